import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { classifyDatabaseFaults } from '../../activities/database-faults';
import { createLedgerActivities } from '../../activities/ledger';
import type { ProjectReferralInput } from '../../activities/referrals';
import { createApp } from '../../api/app';
import type { DB } from '../../db/connection';
import { freePort } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { quietLogger } from '../support/referral-scenario';
import { eventually } from '../support/stack';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

/**
 * An admin action its workflow applied and projected, while the workflow is held up before it answers the update (its
 * worker killed again and again, its tasks timing out on a busy worker, as under the chaos run's faults): the action's
 * answer comes from the projection, promptly, not 503 until the workflow answers. Real Temporal dev server and
 * PostgreSQL; the worker's projection writes can be held, before or after they write, for one referral's entry.
 */
let devServer: DevServer;
let nativeConnection: NativeConnection;
let client: Client;
let db: DB;
let drop: () => Promise<void>;
let worker: Worker;
let running: Promise<void>;
let api: ReturnType<typeof httpClient>;
let setup: ReturnType<typeof httpClient>;
let programId: string;
const taskQueue = `admin-held-${randomUUID()}`;
/** How long the API waits on a workflow; the projection is read once it has waited this long. */
const CALL_TIMEOUT_MS = 2_000;

/** A gate a projection write waits at: `before` it writes, or `after` (written, the workflow not told). */
type Hold = { kind: string; at: 'before' | 'after'; open: () => void; opened: Promise<void> };
const holds = new Map<string, Hold>();

function hold(referralId: string, kind: string, at: Hold['at']): Hold {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const gate = { kind, at, open, opened };
  holds.set(referralId, gate);
  return gate;
}

function releaseAll(): void {
  for (const gate of holds.values()) gate.open();
  holds.clear();
}

/** A projection write that waits at the gate in place for its referral's entry, before and after it writes. */
const gated =
  <I extends ProjectReferralInput, R>(write: (input: I) => Promise<R>) =>
  async (input: I): Promise<R> => {
    // the gate in place at each moment: a write let through may be held again once it has written
    const gate = (at: Hold['at']) => {
      const found = holds.get(input.referral.referralId);
      return found?.kind === input.entry.kind && found.at === at ? found.opened : undefined;
    };
    await gate('before');
    const written = await write(input);
    await gate('after');
    return written;
  };

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  devServer = await startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
  nativeConnection = await NativeConnection.connect({ address: devServer.address });
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
  const activities = createActivities({ db });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietLogger }),
    activities: {
      ...activities,
      ...classifyDatabaseFaults(createLedgerActivities({ db })),
      projectReferral: gated(activities.projectReferral),
      projectReferralEnd: gated(activities.projectReferralEnd),
      projectRegistration: gated(activities.projectRegistration),
    },
  });
  running = worker.run();
  const over = (workflowCallTimeoutMs?: number) => {
    const app = createApp({
      db,
      temporal: client,
      clock: () => new Date(),
      apiKeys: API_KEYS,
      logger: pino({ level: 'silent' }),
      taskQueue,
      workflowCallTimeoutMs,
    });
    return httpClient(async (url, init) => app.request(url, init));
  };
  // the referrals are made with the service's own patience: a cold worker's first signup may take seconds
  setup = over();
  api = over(CALL_TIMEOUT_MS);
  const program = await setup.post('/v1/admin/programs', KEYS.admin, {
    name: 'Held workflows',
    currency: 'INR',
    terms: { referralExpiry: '1 hour', qualificationWindow: '10 minutes', minOrders: 1, minSpend: 50_000 },
  });
  expect(program.status).toBe(201);
  programId = program.body.id;
}, 180_000);

afterAll(async () => {
  releaseAll();
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await client?.connection.close();
  await nativeConnection?.close();
  await devServer?.stop();
  await drop?.();
});

/** A referral signed up to, `registered`; or `under_review` when the referee shares the referrer's IP and device. */
async function referral(status: 'registered' | 'under_review'): Promise<string> {
  const referrer = `referrer-${randomUUID()}`;
  const referee = `referee-${randomUUID()}`;
  const context = status === 'under_review' ? { ip: '203.0.113.9', deviceId: `device-${referrer}` } : undefined;
  const code = (
    await setup.post(`/v1/customers/${referrer}/referral-code`, KEYS.commerce, {
      programId,
      ...(context && { context }),
    })
  ).body.code;
  const signup = await setup.post('/v1/events/signups', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: referee,
    code,
    email: `${referee}@example.com`,
    ...(context && { context }),
  });
  expect(signup).toMatchObject({ status: 201, body: { status } });
  const referralId = signup.body.referralId as string;
  // the voucher's entry is projected just after the registration: the timeline is quiet before an action is held
  if (status === 'registered')
    await eventually(
      () => setup.get(`/v1/admin/referrals/${referralId}`, KEYS.admin),
      (read) => read.body.timeline.some((entry: { kind: string }) => entry.kind === 'voucher_issued'),
    );
  return referralId;
}

const timed = async <T>(call: () => Promise<T>): Promise<{ answer: T; ms: number }> => {
  const started = Date.now();
  const answer = await call();
  return { answer, ms: Date.now() - started };
};

describe('an admin action whose workflow is held up after applying it', () => {
  it('given a cancel answered 503 while its projection write failed, when the write lands and the workflow is still held up, then the same request again is answered 200 with the referral cancelled, at once; and again once the workflow closed', async () => {
    const referralId = await referral('registered');
    const requestId = randomUUID();
    const cancel = () => api.post(`/v1/admin/referrals/${referralId}/cancel`, KEYS.admin, { requestId });
    const writing = hold(referralId, 'cancelled', 'before');

    expect(await cancel()).toMatchObject({ status: 503, body: { code: 'temporarily_unavailable' } });

    // The write goes through, and the workflow is held up after it: it has not answered the update.
    const answering = hold(referralId, 'cancelled', 'after');
    writing.open();
    await eventually(
      () => api.get(`/v1/admin/referrals/${referralId}`, KEYS.admin),
      (read) => read.body.status === 'cancelled',
    );
    const again = await timed(cancel);
    expect(again.answer).toMatchObject({
      status: 200,
      body: { id: referralId, status: 'cancelled', duplicate: true, live: null },
    });
    expect(again.answer.body.timeline.at(-1)).toMatchObject({ kind: 'cancelled', detail: { requestId } });
    // answered from the projection, without waiting on the workflow first
    expect(again.ms).toBeLessThan(CALL_TIMEOUT_MS);

    // The end's write closed the row; the workflow's last step, the cancel's audit row, follows once it goes on.
    expect(
      await db.selectFrom('referrals').select('closed_at').where('id', '=', referralId).executeTakeFirstOrThrow(),
    ).toMatchObject({ closed_at: expect.any(Date) });
    answering.open();
    const audit = await eventually(
      async () => (await api.get(`/v1/admin/audit?referralId=${referralId}`, KEYS.admin)).body.items,
      (items) => items.length > 0,
    );
    expect(audit).toEqual([expect.objectContaining({ action: 'cancel', requestId })]);
    expect(await cancel()).toMatchObject({ status: 200, body: { status: 'cancelled', duplicate: true } });
  }, 120_000);

  it('given an approve answered from the projection before its voucher was issued, when the voucher is projected, then the same request again shows the voucher', async () => {
    const referralId = await referral('under_review');
    const requestId = randomUUID();
    const approve = () => api.post(`/v1/admin/referrals/${referralId}/approve`, KEYS.admin, { requestId });
    // the workflow has projected the approval and is held up before it goes on to the voucher
    const answering = hold(referralId, 'review_approved', 'after');
    const first = await approve();
    expect(first).toMatchObject({ status: 200, body: { status: 'registered', duplicate: false, live: null } });
    expect(first.body.rewards.voucher).toBeNull();

    answering.open();
    await eventually(
      () => api.get(`/v1/admin/referrals/${referralId}`, KEYS.admin),
      (read) =>
        read.body.rewards?.voucher != null &&
        read.body.timeline?.some((entry: { kind: string }) => entry.kind === 'voucher_issued') === true,
    );
    const again = await approve();
    expect(again).toMatchObject({ status: 200, body: { status: 'registered', duplicate: true } });
    expect(again.body.rewards.voucher).not.toBeNull();
    expect(again.body.timeline.map((entry: { kind: string }) => entry.kind)).toContain('voucher_issued');
  }, 60_000);

  const actions = [
    { action: 'reject', kind: 'rejected', from: 'registered', body: { reason: 'duplicate account' }, to: 'rejected' },
    { action: 'extend', kind: 'deadline_extended', from: 'registered', body: { by: '5 minutes' }, to: 'registered' },
    { action: 'approve', kind: 'review_approved', from: 'under_review', body: {}, to: 'registered' },
    { action: 'cancel', kind: 'cancelled', from: 'registered', body: {}, to: 'cancelled' },
  ] as const;

  for (const { action, kind, from, body, to } of actions) {
    it(`given a referral ${from.replace('_', ' ')} whose ${action} its workflow applied and projected and has not answered, then the ${action} is answered 200 from the projection once the call to the workflow times out, and its repeat with duplicate: true`, async () => {
      const referralId = await referral(from);
      const requestId = randomUUID();
      const send = () => api.post(`/v1/admin/referrals/${referralId}/${action}`, KEYS.admin, { requestId, ...body });
      const answering = hold(referralId, kind, 'after');
      try {
        const first = await send();
        expect(first).toMatchObject({ status: 200, body: { id: referralId, status: to, duplicate: false } });
        expect(first.body.timeline.at(-1)).toMatchObject({ kind, detail: { requestId } });
        expect(await send()).toMatchObject({ status: 200, body: { id: referralId, status: to, duplicate: true } });
      } finally {
        answering.open();
      }
    }, 60_000);
  }
});
