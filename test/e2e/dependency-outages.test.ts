import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase } from '../../db/connection';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../db/embedded-postgres';
import { migrateToLatest } from '../../db/migrate';
import { freePort } from '../../runtime/free-port';
import { INBOX_RETENTION_SCHEDULE_ID } from '../../runtime/inbox-retention';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { httpClient, KEYS } from '../support/http';
import { spawnServiceProcess, writeWorkflowBundle, type ServiceProcess } from '../support/service-process';
import { eventually } from '../support/stack';

/**
 * The worker and the API as their own processes (`worker.ts`, `api/server.ts`) while their dependencies fail under
 * them, as the chaos pass makes them: the postmaster stopped while requests hold transactions, PostgreSQL or Temporal
 * down when they start, Temporal refusing schedules. Each process must stay up, and serve again once the dependency is
 * back, instead of exiting.
 */
let dir: string;
let bundle: string;
let postgres: EmbeddedPostgresServer | undefined;
let devServer: DevServer | undefined;
let databaseUrl: string;
let ports: { postgres: number; temporal: number; temporalHttp: number; temporalMetrics: number; api: number };
const processes: ServiceProcess[] = [];

const startPostgres = async () => {
  postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port: ports.postgres });
};
const stopPostgres = async () => {
  await postgres?.stop();
  postgres = undefined;
};
const startTemporal = async (options: { file?: string; dynamicConfig?: Record<string, boolean> } = {}) => {
  const { dynamicConfig } = options;
  devServer = await startDevServer({
    dbFile: path.join(dir, options.file ?? 'temporal.db'),
    port: ports.temporal,
    httpPort: ports.temporalHttp,
    metricsPort: ports.temporalMetrics,
    ...(dynamicConfig ? { dynamicConfig } : {}),
  });
};
const stopTemporal = async () => {
  await devServer?.stop();
  devServer = undefined;
};
const temporalAddress = () => `127.0.0.1:${ports.temporal}`;

function start(entry: 'worker.ts' | 'api/server.ts'): ServiceProcess {
  const started = spawnServiceProcess(entry, {
    databaseUrl,
    temporalAddress: temporalAddress(),
    apiPort: ports.api,
    bundle,
  });
  processes.push(started);
  return started;
}

const api = httpClient((p, init) => fetch(`http://127.0.0.1:${ports.api}${p}`, init));
const readiness = () => api.get('/readyz').catch(() => ({ status: 0, body: null }));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let referrers = 0;
/** A fresh referrer's code in a programme of its own. */
async function referralCode(): Promise<string> {
  const program = await api.post('/v1/admin/programs', KEYS.admin, {
    name: `Outage ${++referrers}`,
    currency: 'EUR',
    terms: { referralExpiry: '1 hour' },
  });
  expect(program.status).toBe(201);
  const code = await api.post(`/v1/customers/referrer-${referrers}/referral-code`, KEYS.commerce, {
    programId: program.body.id,
  });
  expect(code.status).toBe(201);
  return code.body.code;
}

/** A claim the worker runs to its projection: the API and the worker both serve. */
async function claimServed(): Promise<void> {
  const claim = await api.post('/v1/referrals', KEYS.commerce, { code: await referralCode() });
  expect(claim.status).toBe(201);
  const seen = await eventually(
    () => api.get(`/v1/referrals/${claim.body.id}`, KEYS.commerce),
    (r) => r.status === 200 && r.body.status === 'pending',
    30_000,
  );
  expect(seen.body.referrerId).toBe(`referrer-${referrers}`);
}

async function stopProcesses(): Promise<void> {
  await Promise.all(processes.splice(0).map((p) => p.kill()));
}

/** Each test begins with both dependencies up and no process running, whatever the one before left. */
beforeEach(async () => {
  if (!postgres) await startPostgres();
  if (!devServer) await startTemporal();
}, 120_000);
afterEach(stopProcesses);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-outages-'));
  ports = {
    postgres: await freePort(),
    temporal: await freePort(),
    temporalHttp: await freePort(),
    temporalMetrics: await freePort(),
    api: await freePort(),
  };
  await startPostgres();
  await postgres!.createDatabase('referrals');
  databaseUrl = postgres!.url('referrals');
  const db = createDatabase(databaseUrl, { max: 1 });
  await migrateToLatest(db);
  await db.destroy();
  await startTemporal();
  bundle = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
}, 240_000);

afterAll(async () => {
  await stopProcesses();
  await stopTemporal();
  await postgres?.remove();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('the worker and the API through outages of their dependencies', () => {
  it('given claims holding their transactions in the API, when the postmaster is stopped, then the API stays up, answers 503 until PostgreSQL is back, then serves', async () => {
    // No worker: each claim keeps its transaction (the referrer's velocity lock) open while it waits up to 5 s for a
    // projection that does not come, a connection checked out with no statement running most of that time.
    const apiProcess = start('api/server.ts');
    await apiProcess.waitFor('"api listening"');
    const codes = [await referralCode(), await referralCode(), await referralCode()];
    const claims = codes.map((code) => api.post('/v1/referrals', KEYS.commerce, { code }).catch(() => null));
    await pause(1_500);
    await stopPostgres();
    await Promise.all(claims);
    await pause(2_000);
    apiProcess.assertAlive();
    const down = await readiness();
    expect(down).toMatchObject({ status: 503, body: { database: 'unavailable' } });
    expect(apiProcess.output()).toContain('database connection lost');

    await startPostgres();
    await eventually(readiness, (r) => r.status === 200, 30_000);
    await referralCode();
    apiProcess.assertAlive();
  }, 120_000);

  it('given PostgreSQL down, when the worker and the API start, then they wait for it and serve once it is up', async () => {
    await stopPostgres();
    const worker = start('worker.ts');
    const apiProcess = start('api/server.ts');
    await worker.waitFor('reaching PostgreSQL: failed');
    await apiProcess.waitFor('reaching PostgreSQL: failed');
    await pause(2_000);
    worker.assertAlive();
    apiProcess.assertAlive();

    await startPostgres();
    await worker.waitFor('"worker running"');
    await apiProcess.waitFor('"api listening"');
    for (const started of [worker, apiProcess])
      expect(started.output()).toContain('reaching PostgreSQL: done after failures');
    await claimServed();
  }, 180_000);

  it('given Temporal stopped under the running worker and API, and down when they start again, then they stay up, wait for it and serve once it is back', async () => {
    let worker = start('worker.ts');
    let apiProcess = start('api/server.ts');
    await worker.waitFor('"worker running"');
    await apiProcess.waitFor('"api listening"');
    await stopTemporal();
    await pause(5_000);
    worker.assertAlive();
    apiProcess.assertAlive();
    expect(await readiness()).toMatchObject({ status: 503, body: { temporal: 'unavailable' } });
    await startTemporal();
    await claimServed();

    await stopProcesses();
    await stopTemporal();
    worker = start('worker.ts');
    apiProcess = start('api/server.ts');
    await worker.waitFor('reaching Temporal: failed');
    await apiProcess.waitFor('reaching Temporal: failed');
    await pause(2_000);
    worker.assertAlive();
    apiProcess.assertAlive();
    await startTemporal();
    await worker.waitFor('"worker running"');
    await apiProcess.waitFor('"api listening"');
    await claimServed();
  }, 240_000);

  it('given a Temporal that refuses schedules, when the worker starts, then it runs without the retention schedule and creates it once Temporal takes it', async () => {
    // a Temporal of its own: the earlier workers made the schedule on the first one
    await stopTemporal();
    const file = 'temporal-schedules.db';
    await startTemporal({ file, dynamicConfig: { 'frontend.enableSchedules': false } });
    const worker = start('worker.ts');
    const apiProcess = start('api/server.ts');
    await worker.waitFor('"worker running"');
    await worker.waitFor('ensuring the inbox retention schedule: failed');
    await apiProcess.waitFor('"api listening"');
    await claimServed();
    worker.assertAlive();

    await stopTemporal();
    await startTemporal({ file });
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      const handle = new Client({ connection }).schedule.getHandle(INBOX_RETENTION_SCHEDULE_ID);
      const described = await eventually(
        () => handle.describe().catch(() => undefined),
        (schedule) => schedule !== undefined,
        90_000,
      );
      expect(described?.action).toMatchObject({ type: 'startWorkflow', workflowType: 'inboxRetentionWorkflow' });
    } finally {
      await connection.close();
    }
    worker.assertAlive();
    await stopTemporal();
  }, 240_000);
});
