import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../db/connection';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../db/embedded-postgres';
import { migrateToLatest } from '../../db/migrate';
import { freePort } from '../../runtime/free-port';
import { INBOX_RETENTION_SCHEDULE_ID } from '../../runtime/inbox-retention';
import {
  postgresEndpointFromUrl,
  startTemporalOnPostgres,
  type TemporalOnPostgres,
} from '../../runtime/temporal-postgres-server';
import { httpClient, KEYS } from '../support/http';
import { spawnServiceProcess, writeWorkflowBundle, type ServiceProcess } from '../support/service-process';
import { eventually } from '../support/stack';
import { requireTemporalServer } from '../support/temporal-binaries';

/**
 * The production topology (the Temporal server on the same PostgreSQL as the referrals) with the worker and the API
 * as their own processes: the postmaster stopped under all of them, and the worker started while Temporal itself
 * starts, when its frontend answers before its history hosts serve ("Not enough hosts to serve the request").
 */

let dir: string | undefined;
let postgres: EmbeddedPostgresServer | undefined;
let temporal: TemporalOnPostgres | undefined;
const processes: ServiceProcess[] = [];

afterAll(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill()));
  await temporal?.stop();
  await postgres?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('worker and API on the production topology', () => {
  it('given Temporal on the same PostgreSQL, when the postmaster stops for seconds and Temporal restarts with the worker starting beside it, then the worker and the API stay up and serve again', async (context) => {
    requireTemporalServer(context);
    dir = await mkdtemp(path.join(tmpdir(), 'referrals-pg-outages-'));
    const ports = { postgres: await freePort(), temporal: await freePort(), api: await freePort() };
    const startPostgres = async () => {
      postgres = await startEmbeddedPostgres({ dataDir: path.join(dir!, 'postgres'), port: ports.postgres });
    };
    const startTemporal = async () => {
      temporal = await startTemporalOnPostgres({
        postgres: postgresEndpointFromUrl(postgres!.url()),
        dataDir: path.join(dir!, 'temporal'),
        frontendPort: ports.temporal,
      });
    };
    await startPostgres();
    await postgres!.createDatabase('referrals');
    const databaseUrl = postgres!.url('referrals');
    const db = createDatabase(databaseUrl, { max: 1 });
    await migrateToLatest(db);
    await db.destroy();
    await startTemporal();
    const bundle = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
    const start = (entry: 'worker.ts' | 'api/server.ts') => {
      const started = spawnServiceProcess(entry, {
        databaseUrl,
        temporalAddress: temporal!.address,
        namespace: temporal!.namespace,
        apiPort: ports.api,
        bundle,
      });
      processes.push(started);
      return started;
    };
    const api = httpClient((p, init) => fetch(`http://127.0.0.1:${ports.api}${p}`, init));
    let referrers = 0;
    const claimServed = async () => {
      referrers += 1;
      const program = await api.post('/v1/admin/programs', KEYS.admin, {
        name: `Outage ${referrers}`,
        currency: 'EUR',
        terms: { referralExpiry: '1 hour' },
      });
      const code = await api.post(`/v1/customers/referrer-${referrers}/referral-code`, KEYS.commerce, {
        programId: program.body.id,
      });
      // Temporal on PostgreSQL takes a while to serve again after its database came back: a 503 is retried.
      const claim = await eventually(
        () => api.post('/v1/referrals', KEYS.commerce, { code: code.body.code }),
        (r) => r.status !== 503,
        90_000,
      );
      expect(claim.status).toBe(201);
      await eventually(
        () => api.get(`/v1/referrals/${claim.body.id}`, KEYS.commerce),
        (r) => r.status === 200 && r.body.status === 'pending',
        60_000,
      );
    };

    let worker = start('worker.ts');
    const apiProcess = start('api/server.ts');
    await worker.waitFor('"worker running"');
    await apiProcess.waitFor('"api listening"');
    await claimServed();

    // The postmaster stopped: the referrals' database and Temporal's go together.
    await postgres!.stop();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    worker.assertAlive();
    apiProcess.assertAlive();
    await startPostgres();
    await eventually(
      () => api.get('/readyz').catch(() => ({ status: 0 })),
      (r) => r.status === 200,
      120_000,
    );
    await claimServed();
    worker.assertAlive();
    apiProcess.assertAlive();

    // Temporal restarted with the worker starting meanwhile: it meets the frontend before the history hosts serve.
    await worker.kill();
    await temporal!.stop();
    worker = start('worker.ts');
    await worker.waitFor('reaching Temporal: failed');
    await startTemporal();
    await worker.waitFor('"worker running"', 120_000);
    await claimServed();
    const connection = await Connection.connect({ address: temporal!.address });
    try {
      const handle = new Client({ connection, namespace: temporal!.namespace }).schedule.getHandle(
        INBOX_RETENTION_SCHEDULE_ID,
      );
      await eventually(
        () =>
          handle.describe().then(
            () => true,
            () => false,
          ),
        (found) => found,
        120_000,
      );
    } finally {
      await connection.close();
    }
    worker.assertAlive();
    apiProcess.assertAlive();
  }, 600_000);
});
