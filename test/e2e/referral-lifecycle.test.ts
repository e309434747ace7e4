import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../../api/app';
import { TASK_QUEUE } from '../../workflows/shared';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * The commerce contract end to end: HTTP in, Temporal dev server, worker, real Postgres. Programmes use windows of
 * seconds so whole lifecycles run in a test.
 */
let stack: Stack;
let programId: string;
let shortExpiryProgramId: string;

beforeAll(async () => {
  stack = await startStack();
  const program = await stack.http.post('/v1/admin/programs', KEYS.admin, {
    name: 'Fast lane',
    currency: 'INR',
    terms: {
      referralExpiry: '1 minute',
      qualificationWindow: '20s',
      rewardHold: '2s',
      minOrders: 1,
      minSpend: 50_000,
      lateEventGrace: '1s',
    },
  });
  expect(program.status).toBe(201);
  programId = program.body.id;
  shortExpiryProgramId = (
    await stack.http.post('/v1/admin/programs', KEYS.admin, {
      name: 'Short expiry',
      currency: 'INR',
      terms: { referralExpiry: '2s', lateEventGrace: '0s' },
    })
  ).body.id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const codeFor = async (customerId: string, program = programId): Promise<string> =>
  (await stack.http.post(`/v1/customers/${customerId}/referral-code`, KEYS.commerce, { programId: program })).body.code;

const now = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

const orderEvent = (customerId: string, orderId: string, status: string, amount = 60_000, occurredAt = now()) => ({
  eventId: randomUUID(),
  customerId,
  orderId,
  status,
  amount,
  currency: 'INR',
  occurredAt,
});

const readReferral = (id: string) => stack.http.get(`/v1/referrals/${id}`, KEYS.commerce);
const untilStatus = (id: string, status: string) =>
  eventually(
    () => readReferral(id),
    (r) => r.body?.status === status,
  );

describe('a referral over HTTP', () => {
  it('given a claimed code, when the invitee signs up and completes a qualifying order, then it qualifies, completes after the hold, and an operator can find it', async () => {
    const code = await codeFor('anna');
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      channel: 'whatsapp',
      invitee: { email: 'ben@example.com' },
    });
    expect(claim.status).toBe(201);
    expect(claim.body.expiresAt).toBe(claim.body.deadlines.expiresAt);
    expect(claim.body).toMatchObject({
      status: 'pending',
      code,
      channel: 'whatsapp',
      referrerId: 'anna',
      programId,
      programVersion: 1,
      deadlines: { expiresAt: expect.any(String) },
    });
    const referralId = claim.body.id;

    const signupEvent = { eventId: randomUUID(), customerId: 'ben', referralId, email: 'ben@example.com' };
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, signupEvent);
    expect(signup.status).toBe(201);
    expect(signup.body).toMatchObject({
      referralId,
      status: 'registered',
      refereeId: 'ben',
      duplicate: false,
      deadlines: { qualifyBy: expect.any(String) },
    });
    // the claim is no longer pending, yet a replay of the signup is still recognised as the same event
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, signupEvent)).toMatchObject({
      status: 200,
      body: { ...signup.body, duplicate: true },
    });

    const placed = orderEvent('ben', 'A-1', 'placed');
    expect((await stack.http.post('/v1/events/orders', KEYS.commerce, placed)).status).toBe(202);
    const completed = await stack.http.post('/v1/events/orders', KEYS.commerce, orderEvent('ben', 'A-1', 'completed'));
    expect(completed).toMatchObject({ status: 202, body: { duplicate: false } });

    await untilStatus(referralId, 'qualified');
    const done = await untilStatus(referralId, 'completed');
    expect(done.body).toMatchObject({
      refereeId: 'ben',
      progress: { countedOrders: 1, countedSpend: 60_000 },
      completedAt: expect.any(String),
    });

    const admin = await stack.http.get(`/v1/admin/referrals/${referralId}`, KEYS.admin);
    expect(admin.status).toBe(200);
    expect(admin.body.live).toMatchObject({ status: 'completed', countedOrders: [{ orderId: 'A-1', amount: 60_000 }] });
    expect(admin.body.timeline.map((t: { kind: string }) => t.kind)).toEqual([
      'claimed',
      'registered',
      'voucher_issued',
      'qualified',
      'completed',
    ]);

    const found = await eventually(
      async () => {
        const ids: string[] = [];
        for await (const execution of stack.temporal.workflow.list({
          query: `ReferralStatus = "completed" AND ReferrerId = "anna" AND RefereeId = "ben" AND ReferralCode = "${code}" AND ProgramId = "${programId}"`,
        })) {
          ids.push(execution.workflowId);
        }
        return ids;
      },
      (ids) => ids.length > 0,
    );
    expect(found).toEqual([`referral-${referralId}`]);
  });

  it('given a pending claim, when nobody signs up before the referral expiry, then it is expired', async () => {
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code: await codeFor('hana', shortExpiryProgramId),
    });
    const expired = await untilStatus(claim.body.id, 'expired');
    expect(expired.body.endReason).toBe('referral_expired');
  });

  it('given a claim sent twice with one Idempotency-Key, then the second gets the first answer verbatim, even after the referral ended', async () => {
    const code = await codeFor('ivan', shortExpiryProgramId);
    const key = randomUUID();
    const claim = { code, invitee: { email: 'Iris@Example.com' } };
    const first = await stack.http.post('/v1/referrals', KEYS.commerce, claim, { 'idempotency-key': key });
    const second = await stack.http.post('/v1/referrals', KEYS.commerce, claim, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    expect(second).toMatchObject({ status: 201, body: first.body });
    await untilStatus(first.body.id, 'expired');
    // the same claim with the e-mail written another way is the same claim
    const late = await stack.http.post(
      '/v1/referrals',
      KEYS.commerce,
      { ...claim, invitee: { email: 'iris@example.com' } },
      { 'idempotency-key': key },
    );
    expect(late).toMatchObject({ status: 201, body: first.body });
    expect(typeof late.body.expiresAt).toBe('string');
    // the workflow writes its close to the projection just after the end it shows, then completes
    const run = await eventually(
      () => stack.temporal.workflow.getHandle(`referral-${first.body.id}`).describe(),
      (described) => described.status.name !== 'RUNNING',
    );
    expect(run.status.name).toBe('COMPLETED');
  });

  it('given an Idempotency-Key used for one claim, when it comes with another claim, then 409 idempotency_conflict and no referral is started', async () => {
    const code = await codeFor('ivan', shortExpiryProgramId);
    const key = randomUUID();
    const first = await stack.http.post(
      '/v1/referrals',
      KEYS.commerce,
      { code, channel: 'email' },
      { 'idempotency-key': key },
    );
    expect(first.status).toBe(201);
    const before = await stack.db
      .selectFrom('referrals')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const reused = await stack.http.post(
      '/v1/referrals',
      KEYS.commerce,
      { code, channel: 'whatsapp' },
      { 'idempotency-key': key },
    );
    expect(reused).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      body: { code: 'idempotency_conflict' },
    });
    const after = await stack.db
      .selectFrom('referrals')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });
});

describe('replayed and conflicting events', () => {
  it('given a signup applied once, when the same eventId arrives again, then it is answered as a duplicate with the same body and applied once', async () => {
    const code = await codeFor('carla');
    const event = { eventId: randomUUID(), customerId: 'dan', code, email: 'dan@example.com' };
    const first = await stack.http.post('/v1/events/signups', KEYS.commerce, event);
    const again = await stack.http.post('/v1/events/signups', KEYS.commerce, event);
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });

    const reused = await stack.http.post('/v1/events/signups', KEYS.commerce, { ...event, email: 'other@example.com' });
    expect(reused).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      body: { code: 'idempotency_conflict' },
    });

    const order = orderEvent('dan', 'D-1', 'completed', 30_000);
    expect((await stack.http.post('/v1/events/orders', KEYS.commerce, order)).body).toEqual({
      eventId: order.eventId,
      duplicate: false,
    });
    expect((await stack.http.post('/v1/events/orders', KEYS.commerce, order)).body).toEqual({
      eventId: order.eventId,
      duplicate: true,
    });
    // the same order reported again under a new event id still counts once
    await stack.http.post('/v1/events/orders', KEYS.commerce, { ...order, eventId: randomUUID() });
    const live = await eventually(
      () => stack.http.get(`/v1/admin/referrals/${first.body.referralId}`, KEYS.admin),
      (r) => r.body.live?.progress.countedOrders === 1,
    );
    expect(live.body.live.progress.countedSpend).toBe(30_000);
    expect(live.body.status).toBe('registered');
  });

  it('given one signup sent twice at the same moment, then both answers name one referral and the event is kept once', async () => {
    const event = { eventId: randomUUID(), customerId: 'raj', code: await codeFor('sam') };
    const answers = await Promise.all([
      stack.http.post('/v1/events/signups', KEYS.commerce, event),
      stack.http.post('/v1/events/signups', KEYS.commerce, event),
    ]);
    expect(answers.map((a) => a.status)).toEqual(expect.arrayContaining([201]));
    expect(answers.every((a) => a.status === 200 || a.status === 201)).toBe(true);
    expect(new Set(answers.map((a) => a.body.referralId)).size).toBe(1);
    const kept = await eventually(
      () =>
        stack.db
          .selectFrom('inbox_events')
          .select(['state', 'referral_id'])
          .where('event_id', '=', event.eventId)
          .execute(),
      (rows) => rows[0]?.state === 'delivered',
    );
    expect(kept).toEqual([{ state: 'delivered', referral_id: answers[0]!.body.referralId }]);
  });

  it('given a referred customer, when a second referral tries to register them, then 409 already_referred and nothing changes', async () => {
    const first = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'eve',
      code: await codeFor('fred'),
    });
    expect(first.status).toBe(201);
    const second = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'eve',
      code: await codeFor('gina'),
    });
    expect(second).toMatchObject({ status: 409, body: { code: 'already_referred' } });
    const referrals = await stack.db
      .selectFrom('referrals')
      .select('referrer_id')
      .where('referee_id', '=', 'eve')
      .execute();
    expect(referrals).toEqual([{ referrer_id: 'fred' }]);
  });
});

describe('events that arrive early or are interrupted', () => {
  it('given an order reported before its customer signed up, when the signup arrives, then the order counts', async () => {
    const registeredAt = now(-2_000);
    const order = orderEvent('gus', 'G-1', 'completed', 75_000, now(-1_000));
    expect((await stack.http.post('/v1/events/orders', KEYS.commerce, order)).status).toBe(202);
    // answered once kept; found to wait for its signup by the delivery that follows the answer
    await eventually(
      async () =>
        (
          await stack.db
            .selectFrom('inbox_events')
            .select('state')
            .where('event_id', '=', order.eventId)
            .executeTakeFirstOrThrow()
        ).state,
      (state) => state === 'awaiting_signup',
    );

    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'gus',
      code: await codeFor('hank'),
      occurredAt: registeredAt,
    });
    expect(signup.status).toBe(201);
    const qualified = await untilStatus(signup.body.referralId, 'qualified');
    expect(qualified.body.progress).toEqual({ countedOrders: 1, countedSpend: 75_000 });
  });

  it('given events accepted while Temporal was unreachable (or the API died before delivering), then the relay delivers them', async () => {
    const code = await codeFor('iris');
    const viaCutOff = apiCutOffFromTemporal();

    const signup = { eventId: randomUUID(), customerId: 'jon', code, occurredAt: now(-1_000) };
    const refused = await viaCutOff.post('/v1/events/signups', KEYS.commerce, signup);
    expect(refused).toMatchObject({ status: 503, body: { code: 'temporarily_unavailable' } });

    const registered = await eventually(
      () =>
        stack.db
          .selectFrom('inbox_events')
          .selectAll()
          .where('event_id', '=', signup.eventId)
          .executeTakeFirstOrThrow(),
      (row) => row.state === 'delivered',
    );
    const referralId = registered.referral_id!;
    expect((await readReferral(referralId)).body).toMatchObject({ status: 'registered', refereeId: 'jon' });
    // the commerce backend retries the signup: it is answered from the inbox
    const retried = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(retried).toMatchObject({ status: 200, body: { referralId, duplicate: true } });

    const order = orderEvent('jon', 'J-1', 'completed');
    expect(await viaCutOff.post('/v1/events/orders', KEYS.commerce, order)).toMatchObject({
      status: 202,
      body: { duplicate: false },
    });
    await untilStatus(referralId, 'qualified');
  });

  it('given a signup applied whose answer was lost, when its programme is deactivated before the relay runs, then the relay finishes it as applied', async () => {
    const closing = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, { name: 'Closing later', currency: 'INR' })
    ).body.id;
    const signup = { eventId: randomUUID(), customerId: 'lou', code: await codeFor('mia', closing) };
    const applied = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(applied.status).toBe(201);
    // as if the API had died after the workflow accepted the update but before it recorded the answer
    await stack.db
      .updateTable('inbox_events')
      .set({ state: 'received', response: null, received_at: new Date(Date.now() - 60_000) })
      .where('event_id', '=', signup.eventId)
      .execute();
    await stack.http.patch(`/v1/admin/programs/${closing}`, KEYS.admin, { active: false });
    const finished = await eventually(
      () =>
        stack.db
          .selectFrom('inbox_events')
          .selectAll()
          .where('event_id', '=', signup.eventId)
          .executeTakeFirstOrThrow(),
      (row) => row.state !== 'received',
    );
    expect(finished.state).toBe('delivered');
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, signup)).toMatchObject({
      status: 200,
      body: { referralId: applied.body.referralId, status: 'registered', duplicate: true },
    });
  });

  it('given a signup kept while Temporal was down, when its programme is deactivated before delivery, then it is refused for good, replays included', async () => {
    const closing = (await stack.http.post('/v1/admin/programs', KEYS.admin, { name: 'Closing', currency: 'INR' })).body
      .id;
    const signup = { eventId: randomUUID(), customerId: 'kai', code: await codeFor('kora', closing) };
    expect((await apiCutOffFromTemporal().post('/v1/events/signups', KEYS.commerce, signup)).status).toBe(503);
    await stack.http.patch(`/v1/admin/programs/${closing}`, KEYS.admin, { active: false });
    const refused = await eventually(
      () =>
        stack.db
          .selectFrom('inbox_events')
          .selectAll()
          .where('event_id', '=', signup.eventId)
          .executeTakeFirstOrThrow(),
      (row) => row.state !== 'received',
    );
    expect(refused.state).toBe('ignored');
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, signup)).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
  });
});

/** A second API process over the same database whose Temporal calls all fail once the event is stored. */
function apiCutOffFromTemporal() {
  const unreachable = new Proxy({} as Client, {
    get: () => () => Promise.reject(new Error('14 UNAVAILABLE: connection refused')),
  });
  const app = createApp({
    db: stack.db,
    temporal: unreachable,
    clock: () => new Date(),
    apiKeys: API_KEYS,
    logger: pino({ level: 'silent' }),
    taskQueue: TASK_QUEUE,
  });
  return httpClient(async (p, init) => app.request(p, init));
}

describe('admin actions', () => {
  it('given a registered referral, when an admin cancels it, then it is cancelled, a second cancel is 409 and a commerce key is 403', async () => {
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'kim',
      code: await codeFor('lea'),
    });
    const id = signup.body.referralId;
    expect((await stack.http.post(`/v1/admin/referrals/${id}/cancel`, KEYS.commerce, {})).status).toBe(403);
    const cancelled = await stack.http.post(`/v1/admin/referrals/${id}/cancel`, KEYS.admin, {
      requestId: randomUUID(),
      reason: 'test account',
    });
    expect(cancelled).toMatchObject({ status: 200, body: { status: 'cancelled', endReason: 'cancelled' } });
    const again = await stack.http.post(`/v1/admin/referrals/${id}/cancel`, KEYS.admin, { requestId: randomUUID() });
    expect(again).toMatchObject({ status: 409, body: { code: 'referral_closed' } });
    const timeline = (await stack.http.get(`/v1/admin/referrals/${id}`, KEYS.admin)).body.timeline;
    expect(timeline.at(-1)).toMatchObject({ kind: 'cancelled', detail: { actor: 'ops', reason: 'test account' } });
  });

  it('when an unknown referral is read, then 404 not_found as problem+json', async () => {
    const missing = await stack.http.get(`/v1/referrals/${randomUUID()}`, KEYS.commerce);
    expect(missing).toMatchObject({
      status: 404,
      contentType: 'application/problem+json',
      body: { code: 'not_found' },
    });
  });
});
