import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { DB } from '../../db/connection';
import { freePort } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createReferralWorker } from '../../runtime/worker';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { quietLogger } from '../support/referral-scenario';
import { eventually } from '../support/stack';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

/**
 * A move's step waits on the referral's own workflow (activities/term-moves.ts). A worker killed while it waits must not
 * hold the step up for the step's whole minute: the dev server (real activity timeouts), real PostgreSQL, the worker
 * that dies a process of its own killed with SIGKILL, the move started over the API.
 */
const DYING_WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/dying-move-worker.ts');

let devServer: DevServer;
let nativeConnection: NativeConnection;
let client: Client;
let db: DB;
let databaseUrl: string;
let drop: () => Promise<void>;
let workflowBundle: WorkflowBundleWithSourceMap;
let bundleFile: string;
const taskQueue = `terms-move-worker-killed-${randomUUID()}`;
let api: ReturnType<typeof httpClient>;
let programId: string;

beforeAll(async () => {
  ({ db, url: databaseUrl, drop } = await createTestDatabase());
  devServer = await startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
  nativeConnection = await NativeConnection.connect({ address: devServer.address });
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
  workflowBundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietLogger });
  bundleFile = path.join(await mkdtemp(path.join(tmpdir(), 'terms-move-bundle-')), 'workflows.js');
  await writeFile(bundleFile, workflowBundle.code);
  const app = createApp({
    db,
    temporal: client,
    clock: () => new Date(),
    apiKeys: API_KEYS,
    logger: pino({ level: 'silent' }),
    taskQueue,
  });
  api = httpClient(async (url, init) => app.request(url, init));
  const program = await api.post('/v1/admin/programs', KEYS.admin, {
    name: 'Moves',
    currency: 'INR',
    terms: { referralExpiry: '1 hour', qualificationWindow: '10 minutes', minOrders: 1, minSpend: 50_000 },
  });
  expect(program.status).toBe(201);
  programId = program.body.id;
  const version = await api.post(`/v1/admin/programs/${programId}/versions`, KEYS.admin, {
    terms: { referralExpiry: '1 hour', qualificationWindow: '20 minutes', minOrders: 1, minSpend: 50_000 },
  });
  expect(version).toMatchObject({ status: 201, body: { version: 2 } });
}, 180_000);

afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
  await devServer?.stop();
  await drop?.();
});

/** A worker of the service's own making on the test's queue; none of its referrals waits on it once it stops. */
const worker = () =>
  createReferralWorker({
    connection: nativeConnection,
    namespace: 'default',
    db,
    taskQueue,
    workflowBundle: { code: workflowBundle.code },
    maxCachedWorkflows: 0,
  });

/**
 * A referral registered (the signup answers once it is in the projection). Claims run under the newest version: the
 * moves take them back to the first, whose window still ends ahead of them.
 */
async function registeredReferral(): Promise<string> {
  const referrer = `referrer-${randomUUID()}`;
  const referee = `referee-${randomUUID()}`;
  const code = (await api.post(`/v1/customers/${referrer}/referral-code`, KEYS.commerce, { programId })).body.code;
  const claimed = await api.post('/v1/referrals', KEYS.commerce, {
    code,
    invitee: { email: `${referee}@example.com` },
  });
  expect(claimed.status).toBe(201);
  const signup = await api.post('/v1/events/signups', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: referee,
    referralId: claimed.body.id,
    email: `${referee}@example.com`,
  });
  expect(signup).toMatchObject({ status: 201, body: { status: 'registered', programVersion: 2 } });
  return claimed.body.id as string;
}

async function startMove(referralId: string): Promise<string> {
  const moveId = randomUUID();
  const started = await api.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, {
    moveId,
    toVersion: 1,
    referralIds: [referralId],
    dryRun: false,
  });
  expect(started).toMatchObject({ status: 202, body: { moveId, state: 'running' } });
  return moveId;
}

const moveDone = (moveId: string, withinMs: number) =>
  eventually(
    () => api.get(`/v1/admin/programs/${programId}/moves/${moveId}`, KEYS.admin),
    (read) => read.body.state === 'done',
    withinMs,
  );

const outcomes = async (moveId: string) =>
  (await api.get(`/v1/admin/programs/${programId}/moves/${moveId}/referrals`, KEYS.admin)).body.items as Array<{
    referralId: string;
    outcome: string;
  }>;

async function startDyingWorker(): Promise<{ child: ChildProcess; stepping: Promise<string> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', DYING_WORKER, devServer.address, taskQueue, databaseUrl, bundleFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  let onStepping: (referralId: string) => void = () => {};
  const stepping = new Promise<string>((resolve) => (onStepping = resolve));
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dying worker exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready')) resolve();
      const step = /stepping (\S+)/.exec(output);
      if (step) onStepping(step[1]!);
    });
  });
  return { child, stepping };
}

describe('a move whose worker dies in the middle of a step', () => {
  it('given a step under way on a worker killed with SIGKILL, when another worker runs, then the move is done well within the step’s minute and the referral is moved', async () => {
    const setup = await worker();
    const referralId = await setup.runUntil(registeredReferral);

    const dying = await startDyingWorker();
    try {
      const moveId = await startMove(referralId);
      expect(await dying.stepping).toBe(referralId);
      dying.child.kill('SIGKILL');
      const killedAt = Date.now();

      const survivor = await worker();
      await survivor.runUntil(() => moveDone(moveId, 90_000));
      const tookMs = Date.now() - killedAt;
      // Without a heartbeat the server learns nothing of the dead worker until the step's start-to-close (1 minute).
      expect(tookMs).toBeLessThan(40_000);
      expect(await outcomes(moveId)).toEqual([expect.objectContaining({ referralId, outcome: 'moved' })]);
    } finally {
      dying.child.kill('SIGKILL');
    }
  }, 180_000);

  it('given a referral whose move waits 20 s on its projection (its row locked), when the step waits for it, then its first try answers: the heartbeat keeps it alive past the heartbeat timeout', async () => {
    const running = await worker();
    await running.runUntil(async () => {
      const referralId = await registeredReferral();
      let moveId = '';
      await db.transaction().execute(async (trx) => {
        await sql`select id from referrals where id = ${referralId} for update`.execute(trx);
        moveId = await startMove(referralId);
        await new Promise((resolve) => setTimeout(resolve, 20_000));
      });
      await moveDone(moveId, 60_000);
      expect(await outcomes(moveId)).toEqual([expect.objectContaining({ referralId, outcome: 'moved' })]);
      const history = await client.workflow.getHandle(`terms-move-${moveId}`).fetchHistory();
      const scheduled = new Set(
        (history.events ?? [])
          .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'moveReferralToTerms')
          .map((e) => String(e.eventId)),
      );
      const tries = (history.events ?? [])
        .map((e) => e.activityTaskStartedEventAttributes)
        .filter((started) => started && scheduled.has(String(started.scheduledEventId)));
      expect(tries.map((started) => started!.attempt)).toEqual([1]);
    });
  }, 180_000);
});
