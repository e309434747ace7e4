import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../db/embedded-postgres';
import { freePort } from '../../runtime/free-port';
import {
  postgresEndpointFromUrl,
  startTemporalOnPostgres,
  type TemporalOnPostgres,
} from '../../runtime/temporal-postgres-server';
import { startReferralService, type RunningService } from '../../service';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { eventually } from '../support/stack';
import { requireTemporalServer } from '../support/temporal-binaries';

/**
 * The production topology's Temporal (the server binary of docker-compose.yml's temporal service, on its own
 * PostgreSQL) under the referral service: a claim and a signup over HTTP, run by the worker, seen in the projection
 * and in Temporal's SQL visibility.
 */

let dir: string | undefined;
let postgres: EmbeddedPostgresServer | undefined;
let temporal: TemporalOnPostgres | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
let service: RunningService | undefined;

afterAll(async () => {
  await service?.stop();
  await temporal?.stop();
  await database?.drop();
  await postgres?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('Temporal server on PostgreSQL', () => {
  it('given the server on PostgreSQL with the namespace and search attributes it sets up, when a code is claimed and the invitee signs up over HTTP, then the worker runs the referral to registered and visibility finds it by its attributes', async (context) => {
    requireTemporalServer(context);
    dir = await mkdtemp(path.join(tmpdir(), 'referrals-temporal-pg-'));
    postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
    temporal = await startTemporalOnPostgres({
      postgres: postgresEndpointFromUrl(postgres.url()),
      dataDir: path.join(dir, 'temporal'),
    });
    database = await createTestDatabase();
    service = await startReferralService({
      db: database.db,
      temporalAddress: temporal.address,
      namespace: temporal.namespace,
      apiKeys: API_KEYS,
      port: 0,
      hostname: '127.0.0.1',
      logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    });
    const apiUrl = service.apiUrl;
    const http = httpClient((p, init) => fetch(`${apiUrl}${p}`, init));

    const program = await http.post('/v1/admin/programs', KEYS.admin, {
      name: 'On PostgreSQL',
      currency: 'INR',
      terms: { referralExpiry: '1 hour' },
    });
    expect(program.status).toBe(201);
    const code = (await http.post('/v1/customers/pia/referral-code', KEYS.commerce, { programId: program.body.id }))
      .body.code;
    const claim = await http.post('/v1/referrals', KEYS.commerce, { code, invitee: { email: 'quinn@example.com' } });
    expect(claim).toMatchObject({ status: 201, body: { status: 'pending', referrerId: 'pia' } });
    const referralId: string = claim.body.id;

    const signup = await http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'quinn',
      referralId,
      email: 'quinn@example.com',
    });
    expect(signup).toMatchObject({ status: 201, body: { referralId, status: 'registered', refereeId: 'quinn' } });

    const projected = await eventually(
      () => database!.db.selectFrom('referrals').selectAll().where('id', '=', referralId).executeTakeFirst(),
      (row) => row?.status === 'registered',
    );
    expect(projected).toMatchObject({ referrer_id: 'pia', referee_id: 'quinn' });

    const client = service.temporal;
    const found = await eventually(
      async () => {
        const ids: string[] = [];
        for await (const execution of client.workflow.list({
          query: `ReferralStatus = "registered" AND ReferrerId = "pia" AND RefereeId = "quinn"`,
        })) {
          ids.push(execution.workflowId);
        }
        return ids;
      },
      (ids) => ids.length > 0,
    );
    expect(found).toEqual([`referral-${referralId}`]);
  }, 120_000);
});
