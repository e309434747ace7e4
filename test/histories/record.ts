/**
 * `npm run record-histories -- <prefix>` (e.g. v3): runs the referral workflow through its main paths on the time-skipping server and
 * saves each history here. The replay test replays them against the current code, so a change that would break
 * referrals already running fails CI. Record new histories when behaviour changes on purpose (behind patched()),
 * and keep the old ones: they stand for referrals still in flight.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { ensureSearchAttributes } from '../../runtime/search-attributes';
import { approveUpdate, cancelUpdate, extendUpdate, moveTermsUpdate, orderSignal, registerUpdate, rejectUpdate } from '../../workflows/messages';
import { pointLotWorkflowId } from '../../workflows/lot-shared';
import { referralLifecycle } from '../../workflows/referral';
import { DEFAULT_REFERRAL_TERMS, referralWorkflowId, type OrderFacts, type ReferralInput } from '../../workflows/shared';
import { fakeActivities } from '../support/fake-activities';
import { startTimeSkippingServer } from '../support/referral-scenario';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

const { temporal } = proto;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const prefix = process.argv[2];
if (!prefix || !/^v\d+$/.test(prefix)) {
  console.error('usage: npm run record-histories -- v<N>   (a new prefix; existing histories stay as they are)');
  process.exit(2);
}
// A fresh server per scenario: one scenario's leftovers (a child or an activity still running) can hold the
// time-skipping clock of the next.
let env: TestWorkflowEnvironment;
const workflowBundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS });
// 'broken' stands for a referee whose registration the projection cannot hold (a data error no retry can fix).
// Orders the inbox hands a registration (early) or a deadline's decision (reported), set by the scenarios below.
const early: OrderFacts[] = [];
let reported: OrderFacts[] = [];
// Until this instant (the test server's clock) the inbox cannot be read: a deadline's decision waits on it.
let inboxDownUntilMs = -Infinity;
const fakes = fakeActivities({
  earlyOrders: early,
  reportedOrders: async () => {
    if ((await env.currentTimeMs()) <= inboxDownUntilMs) throw new Error('connection refused');
    return reported;
  },
  alreadyReferred: ['taken'],
  failProjection: (write) =>
    write.referral.refereeId === 'broken'
      ? ApplicationFailure.create({ type: 'database_data_error', message: 'value out of range', nonRetryable: true })
      : undefined,
});
const taskQueue = 'record-histories';

const now = async () => new Date(await env.currentTimeMs()).toISOString();
type Handle = WorkflowHandle<typeof referralLifecycle>;

async function record(name: string, overrides: Partial<ReferralInput>, drive: (handle: Handle) => Promise<void>) {
  env = await startTimeSkippingServer(20);
  try {
    await ensureSearchAttributes(env.connection, 'default');
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities: fakes.activities });
    await worker.runUntil(() => recordOn(name, overrides, drive));
  } finally {
    await env.teardown();
  }
}

async function recordOn(name: string, overrides: Partial<ReferralInput>, drive: (handle: Handle) => Promise<void>) {
  const referralId = randomUUID();
  const handle = await env.client.workflow.start(referralLifecycle, {
    taskQueue,
    workflowId: referralWorkflowId(referralId),
    args: [{ referralId, program: { id: 'program-1', version: 1, currency: 'INR', terms: DEFAULT_REFERRAL_TERMS }, code: 'ANNA2026', referrerId: 'anna', createdAt: await now(), origin: 'claim', ...overrides }],
  });
  await drive(handle);
  await handle.result().catch(() => undefined);
  const history = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
  // Binary protobuf: the same bytes the server stores, independent of JSON-mapping differences between SDK versions.
  await writeFile(path.join(HERE, `${prefix}-${name}.binpb`), temporal.api.history.v1.History.encode(history).finish());
  console.log(`recorded ${prefix}-${name}: ${history.events?.length} events`);
  // The referrer's lot, where the referral paid one: credited, then expired (the fakes credit it expiring at once).
  const lot = env.client.workflow.getHandle(pointLotWorkflowId(`referral-${referralId}`));
  if (await lot.describe().then(() => true, () => false)) {
    await lot.result().catch(() => undefined);
    const lotHistory = await lot.fetchHistory();
    await writeFile(path.join(HERE, `${prefix}-lot-of-${name}.binpb`), temporal.api.history.v1.History.encode(lotHistory).finish());
    console.log(`recorded ${prefix}-lot-of-${name}: ${lotHistory.events?.length} events`);
  }
  // A milestone lot left running would hold the time-skipping server's clock for the next scenario: let it end.
  const milestoneLot = env.client.workflow.getHandle(pointLotWorkflowId(`milestone-${referralId}`));
  if (await milestoneLot.describe().then(() => true, () => false)) await milestoneLot.result().catch(() => undefined);
}

const signup = async (refereeId = 'ben') => ({ eventId: randomUUID(), refereeId, occurredAt: await now() });
const order = async (orderId: string, status: 'completed' | 'refunded' | 'cancelled', amount = 60_000, occurredAt?: string) => ({ eventId: randomUUID(), orderId, status, amount, currency: 'INR', occurredAt: occurredAt ?? (await now()) });
const minus = (iso: string, ms: number) => new Date(Date.parse(iso) - ms).toISOString();
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

{
  await record('claim-register-qualify-complete', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('29 days');
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('8 days');
  });
  await record('orders-counted-below-minimum-then-window-closes', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await h.signal(orderSignal, await order('small', 'completed', 10_000));
    await settle();
    await env.sleep('31 days');
  });
  await record('pending-expires', {}, async () => {
    await env.sleep('91 days');
  });
  await record('refund-during-hold-then-window-closes', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('2 days');
    await h.signal(orderSignal, await order('o-1', 'refunded'));
    await settle();
    await env.sleep('31 days');
  });
  await record('self-referral-refused-then-registered-then-cancelled', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup('anna')] }).catch(() => undefined);
    await h.executeUpdate(registerUpdate, { args: [await signup('ben')] });
    await h.executeUpdate(cancelUpdate, { args: [{ actor: 'ops', reason: 'test', requestId: 'cancel-1' }] });
  });
  await record('signup-origin-refused', { origin: 'signup' }, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup('taken')] }).catch(() => undefined);
  });
  // Late facts at a deadline (v4 on): each deadline waits lateEventGrace (5 minutes) for facts dated up to it.
  await record('order-at-window-end-reported-in-grace', {}, async (h) => {
    const registered = await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('30 days');
    await env.sleep('2 minutes');
    await h.signal(orderSignal, await order('o-1', 'completed', 60_000, registered.deadlines.qualifyBy!));
    await settle();
    await env.sleep('8 days');
  });
  await record('refund-inside-hold-reported-after-it', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('7 days');
    await env.sleep('1 minute');
    const holdUntil = (await h.query('state') as { deadlines: { holdUntil: string } }).deadlines.holdUntil;
    await h.signal(orderSignal, await order('o-1', 'refunded', 60_000, minus(holdUntil, 3_600_000)));
    await settle();
    await env.sleep('31 days');
  });
  await record('window-order-reported-after-grace-is-late', {}, async (h) => {
    const registered = await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('29 days');
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('1 day');
    await env.sleep('10 minutes');
    await h.signal(orderSignal, await order('o-2', 'completed', 90_000, minus(registered.deadlines.qualifyBy!, 3_600_000)));
    await settle();
    await env.sleep('7 days');
  });
  await record('no-grace-window-closes', { program: { id: 'program-1', version: 1, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, lateEventGrace: '0' } } }, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('31 days');
  });
  await record('projection-fault-releases-referee', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup('broken')] }).catch(() => undefined);
  });
  // Rewards (v6 on): the milestone at the 3rd order, one of them reported after the window's grace.
  await record('milestone-reached-with-late-window-order', {}, async (h) => {
    const registered = await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('8 days');
    await settle();
    await env.sleep('23 days');
    await h.signal(orderSignal, await order('o-2', 'completed', 100, new Date(Date.parse(registered.registeredAt!) + 20 * 86_400_000).toISOString()));
    await settle();
    await h.signal(orderSignal, await order('o-3', 'completed', 100));
    await settle();
  });
  // Fraud review and admin actions (v7 on).
  const flagged = async () => ({ ...(await signup()), flags: ['DEVICE_REUSE', 'SAME_IP'] });
  await record('review-expires-rejected', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await flagged()] });
    await env.sleep('15 days');
  });
  await record('review-approved-then-completes', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await flagged()] });
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('3 days');
    await h.executeUpdate(approveUpdate, { args: [{ requestId: 'approve-1', actor: 'ops', reason: 'known' }] });
    await h.executeUpdate(approveUpdate, { args: [{ requestId: 'approve-2', actor: 'ops' }] }).catch(() => undefined);
    await settle();
    await env.sleep('8 days');
  });
  await record('window-extended-then-rejected', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('20 days');
    await h.executeUpdate(extendUpdate, { args: [{ requestId: 'extend-1', actor: 'ops', by: '10 days' }] });
    await env.sleep('15 days');
    await h.executeUpdate(rejectUpdate, { args: [{ requestId: 'reject-1', actor: 'ops', reason: 'fraud' }] });
  });
  // Moves to new terms and a hold of 0 (v9 on).
  await record('moved-to-new-terms-then-completes', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('20 days');
    const program = { id: 'program-1', version: 2, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, qualificationWindow: '45 days', rewardHold: '3 days' } };
    await h.executeUpdate(moveTermsUpdate, { args: [{ requestId: 'move:m-1', actor: 'ops', program }] });
    await h.executeUpdate(moveTermsUpdate, { args: [{ requestId: 'move:m-2', actor: 'ops', program: { ...program, terms: { ...program.terms, qualificationWindow: '10 days' } } }] }).catch(() => undefined);
    await env.sleep('20 days');
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
    await env.sleep('4 days');
  });
  await record('hold-zero-completes-at-qualification', { program: { id: 'program-1', version: 1, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, rewardHold: '0' } } }, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await h.signal(orderSignal, await order('o-1', 'completed'));
    await settle();
  });
  await record('continue-as-new', { historyEventLimit: 40 }, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    for (let i = 0; i < 30; i++) await h.signal(orderSignal, await order(`o-${i}`, 'completed', 1_000));
    await settle();
    await h.executeUpdate(cancelUpdate, { args: [{ actor: 'ops' }] });
  });
  // Orders judged by when the intake accepted them (v10 on).
  const day = 86_400_000;
  await record('completion-delivered-after-its-refund-completes', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    const completion = { ...(await order('o-1', 'completed')), reportedAt: await now() };
    await env.sleep('8 days');
    await h.signal(orderSignal, { ...(await order('o-1', 'refunded')), reportedAt: await now() });
    await h.signal(orderSignal, completion);
    await settle();
    await env.sleep('1 day');
  });
  await record('order-reported-in-time-taken-at-window-end', {}, async (h) => {
    await h.executeUpdate(registerUpdate, { args: [await signup()] });
    await env.sleep('1 day');
    reported = [{ ...(await order('o-1', 'completed')), reportedAt: await now() }];
    await env.sleep('30 days');
    await settle();
    await env.sleep('8 days');
    reported = [];
  });
  await record('early-order-reported-after-grace-is-late', {}, async (h) => {
    const t0 = Date.parse(await now());
    early.push({ ...(await order('o-1', 'completed', 60_000, new Date(t0 + 2 * day).toISOString())), reportedAt: new Date(t0 + 35 * day).toISOString() });
    await env.sleep('40 days');
    await h.executeUpdate(registerUpdate, { args: [{ ...(await signup()), occurredAt: new Date(t0 + day).toISOString() }] });
    await settle();
    early.length = 0;
  });
  // A qualification lost after the window's grace, an order held back by the hold qualifying it again (v12 on).
  await record('cancel-in-hold-decided-after-window-requalifies', { program: { id: 'program-1', version: 1, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, qualificationWindow: '3 hours', rewardHold: '1 hour', lateEventGrace: '10 minutes' } } }, async (h) => {
    const registered = await h.executeUpdate(registerUpdate, { args: [await signup()] });
    const t0 = Date.parse(await now());
    const at = (ms: number) => new Date(t0 + ms).toISOString();
    await h.signal(orderSignal, { ...(await order('o-1', 'completed')), reportedAt: at(0) });
    await settle();
    await env.sleep('62 minutes');
    await h.signal(orderSignal, { ...(await order('o-2', 'completed', 60_000, at(61 * 60_000))), reportedAt: at(62 * 60_000) });
    await settle();
    reported = [{ ...(await order('o-1', 'cancelled', 60_000, at(30 * 60_000))), reportedAt: at(63 * 60_000) }];
    inboxDownUntilMs = Date.parse(registered.deadlines.qualifyBy!) + 10 * 60_000;
    await env.sleep('3 hours');
    await settle();
    reported = [];
    inboxDownUntilMs = -Infinity;
  });
  // A move judging a qualified referral at its hold, as the lifecycle does (v13 on).
  await record('moved-while-qualified-by-order-refunded-after-hold', { program: { id: 'program-1', version: 1, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, rewardHold: '1 hour', lateEventGrace: '2 hours' } } }, async (h) => {
    const hour = 3_600_000;
    const t0 = Date.parse(await now());
    const at = (hours: number) => new Date(t0 + hours * hour).toISOString();
    await env.sleep('3 hours');
    early.push({ ...(await order('o-1', 'completed', 60_000, at(0.2))), reportedAt: at(2.9) }, { ...(await order('o-1', 'refunded', 60_000, at(1.3))), reportedAt: at(2.9) });
    await h.executeUpdate(registerUpdate, { args: [{ ...(await signup()), occurredAt: at(0.1) }] });
    await settle();
    const program = { id: 'program-1', version: 2, currency: 'INR', terms: { ...DEFAULT_REFERRAL_TERMS, rewardHold: '1 hour', lateEventGrace: '2 hours', referrerPoints: 600 } };
    await h.executeUpdate(moveTermsUpdate, { args: [{ requestId: 'move:m-1', actor: 'ops', program }] });
    await env.sleep('1 hour');
    await settle();
    early.length = 0;
  });
}
