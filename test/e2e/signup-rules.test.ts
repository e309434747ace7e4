import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * The signup rules where they meet time and history: claims that lapsed before the signup happened, replays written
 * another way, programmes switched off mid-flight, referrers' own addresses, and facts that arrive after a referral
 * ended. HTTP in, the dev server, the worker and real PostgreSQL underneath.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const createProgram = async (name: string, terms: Record<string, unknown> = {}): Promise<string> => {
  const created = await stack.http.post('/v1/admin/programs', KEYS.admin, {
    name,
    currency: 'INR',
    terms: { lateEventGrace: '0s', ...terms },
  });
  expect(created.status).toBe(201);
  return created.body.id;
};
const codeFor = async (customerId: string, programId: string, contact: Record<string, string> = {}): Promise<string> =>
  (await stack.http.post(`/v1/customers/${customerId}/referral-code`, KEYS.commerce, { programId, ...contact })).body
    .code;
const readReferral = (id: string) => stack.http.get(`/v1/referrals/${id}`, KEYS.commerce);
const untilStatus = (id: string, status: string) =>
  eventually(
    () => readReferral(id),
    (r) => r.body?.status === status,
  );
const referralCount = async () =>
  Number(
    (
      await stack.db
        .selectFrom('referrals')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('claims that lapsed before the signup', () => {
  it('given a claim that expired before the invitee signed up, when the signup comes with the code, then it starts a referral of its own', async () => {
    const programId = await createProgram('Lapsing claims', { referralExpiry: '2s' });
    const code = await codeFor('olga', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'pia@example.com' },
    });
    await untilStatus(claim.body.id, 'expired');

    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'pia',
      code,
      email: 'pia@example.com',
    });
    expect(signup).toMatchObject({ status: 201, body: { status: 'registered', refereeId: 'pia', referrerId: 'olga' } });
    expect(signup.body.referralId).not.toBe(claim.body.id);
    expect((await readReferral(claim.body.id)).body.status).toBe('expired');
  });

  it('given a pending claim whose expiry passed before the signup happened, then the signup is not matched to it, even before the claim expires in the workflow', async () => {
    const programId = await createProgram('Slow expiry', { referralExpiry: '1 hour' });
    const code = await codeFor('quin', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'rory@example.com' },
    });
    // As if the claim had been made long ago: its expiry lies before the signup's business time.
    await stack.db
      .updateTable('referrals')
      .set({ expires_at: new Date(Date.now() - 60_000) })
      .where('id', '=', claim.body.id)
      .execute();

    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'rory',
      code,
      email: 'rory@example.com',
    });
    expect(signup.status).toBe(201);
    expect(signup.body.referralId).not.toBe(claim.body.id);
    expect((await readReferral(claim.body.id)).body.status).toBe('pending');
  });

  it('given a claim whose workflow already expired, when a signup that names it arrives, then one made in time or with a code starts a referral under its code, one made too late without a code is refused as closed', async () => {
    const programId = await createProgram('Expired by the workflow', { referralExpiry: '2s' });
    const code = await codeFor('sven', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    const expiry = Date.parse(claim.body.expiresAt);
    await untilStatus(claim.body.id, 'expired');

    const late = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'tara',
      referralId: claim.body.id,
      occurredAt: new Date(expiry + 500).toISOString(),
    });
    expect(late).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      body: { code: 'referral_closed' },
    });

    // It happened in time; only its report (our delivery) came after the workflow decided.
    const inTime = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'tara',
      referralId: claim.body.id,
      occurredAt: new Date(expiry - 1_000).toISOString(),
    });
    expect(inTime).toMatchObject({
      status: 201,
      body: { status: 'registered', refereeId: 'tara', code, referrerId: 'sven' },
    });
    expect(inTime.body.referralId).not.toBe(claim.body.id);
    const kept = await stack.db
      .selectFrom('inbox_events')
      .select(['state', 'referral_id'])
      .where('referral_id', '=', inTime.body.referralId)
      .execute();
    expect(kept).toEqual([{ state: 'delivered', referral_id: inTime.body.referralId }]);

    const withCode = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'tess',
      referralId: claim.body.id,
      code,
      occurredAt: new Date(expiry + 500).toISOString(),
    });
    expect(withCode).toMatchObject({ status: 201, body: { status: 'registered', refereeId: 'tess' } });
  });

  it('given a claim whose workflow expired while its projection still shows it pending, when a signup made in time arrives, then it is kept for the relay, not refused, and registers once the expiry is projected', async () => {
    const programId = await createProgram('Projection behind', { referralExpiry: '2s' });
    const code = await codeFor('uwe', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    const expiry = Date.parse(claim.body.expiresAt);
    await untilStatus(claim.body.id, 'expired');
    // As if the worker had died before writing the expiry: the row still says pending.
    const shown = () => stack.db.updateTable('referrals').where('id', '=', claim.body.id);
    await shown().set({ status: 'pending', ended_at: null, end_reason: null, closed_at: null }).execute();

    const eventId = randomUUID();
    const signup = {
      eventId,
      customerId: 'yuki',
      referralId: claim.body.id,
      occurredAt: new Date(expiry - 1_000).toISOString(),
    };
    const first = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(first).toMatchObject({ status: 503, body: { code: 'temporarily_unavailable' } });

    await shown()
      .set({ status: 'expired', ended_at: new Date(expiry), end_reason: 'referral_expired', closed_at: new Date() })
      .execute();
    const delivered = await eventually(
      () =>
        stack.db
          .selectFrom('inbox_events')
          .select(['state', 'referral_id'])
          .where('event_id', '=', eventId)
          .executeTakeFirstOrThrow(),
      (row) => row.state === 'delivered',
    );
    expect(delivered.referral_id).not.toBe(claim.body.id);
    const replay = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(replay).toMatchObject({ body: { status: 'registered', refereeId: 'yuki', code, referrerId: 'uwe' } });
  });

  it('given a claim an admin cancelled, when a signup that names it arrives with its code, then it is refused as closed, not replaced', async () => {
    const programId = await createProgram('Cancelled claims');
    const code = await codeFor('cleo', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    expect(
      (
        await stack.http.post(`/v1/admin/referrals/${claim.body.id}/cancel`, KEYS.admin, {
          requestId: randomUUID(),
          reason: 'abuse',
        })
      ).status,
    ).toBe(200);
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'cody',
      referralId: claim.body.id,
      code,
    });
    expect(signup).toMatchObject({ status: 409, body: { code: 'referral_closed' } });
  });

  it('given a claim whose workflow expired, when a signup with its code arrives after the programme was switched off, then it is refused for good, replays included', async () => {
    const programId = await createProgram('Expired, then switched off', { referralExpiry: '2s' });
    const code = await codeFor('ursa', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    const occurredAt = new Date(Date.parse(claim.body.expiresAt) - 1_000).toISOString();
    await untilStatus(claim.body.id, 'expired');
    await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: false });

    const event = { eventId: randomUUID(), customerId: 'vera', referralId: claim.body.id, code, occurredAt };
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, event)).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    const kept = await stack.db
      .selectFrom('inbox_events')
      .select(['state', 'response'])
      .where('event_id', '=', event.eventId)
      .executeTakeFirstOrThrow();
    expect(kept).toMatchObject({ state: 'ignored', response: { refusal: { code: 'program_inactive' } } });
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, event)).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    expect(
      (
        await stack.db
          .selectFrom('customers')
          .select('referred_by_referral_id')
          .where('id', '=', 'vera')
          .executeTakeFirst()
      )?.referred_by_referral_id ?? null,
    ).toBeNull();
  });
});

describe('replays and contact rules', () => {
  it('given a signup, when it is replayed with the same instant written in another offset and the e-mail in capitals, then it is the same event', async () => {
    const programId = await createProgram('Replays');
    const event = {
      eventId: randomUUID(),
      customerId: 'uma',
      code: await codeFor('vic', programId),
      email: 'uma@example.com',
      occurredAt: '2026-11-25T10:00:00Z',
    };
    const first = await stack.http.post('/v1/events/signups', KEYS.commerce, event);
    expect(first.status).toBe(201);
    const replay = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      ...event,
      email: 'UMA@example.com',
      occurredAt: '2026-11-25T15:30:00+05:30',
    });
    expect(replay).toMatchObject({ status: 200, body: { ...first.body, duplicate: true } });
    const other = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      ...event,
      occurredAt: '2026-11-25T10:00:01Z',
    });
    expect(other).toMatchObject({ status: 409, body: { code: 'idempotency_conflict' } });
  });

  it('given a referrer who gave their e-mail and phone with their code, when a new customer signs up with either, then 422 self_referral and nothing is written', async () => {
    const programId = await createProgram('Own addresses');
    const code = await codeFor('wendy', programId, { email: 'Wendy@Example.com', phone: '+91 98765-43210' });
    const before = await referralCount();
    const byEmail = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'wendy-2',
      code,
      email: 'wendy@example.com',
    });
    expect(byEmail).toMatchObject({
      status: 422,
      contentType: 'application/problem+json',
      body: { code: 'self_referral' },
    });
    const byPhone = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'wendy-3',
      code,
      phone: '+919876543210',
    });
    expect(byPhone).toMatchObject({ status: 422, body: { code: 'self_referral' } });
    expect(await referralCount()).toBe(before);
    const customers = await stack.db
      .selectFrom('customers')
      .select('referred_by_referral_id')
      .where('id', 'in', ['wendy-2', 'wendy-3'])
      .execute();
    expect(customers.every((c) => c.referred_by_referral_id === null)).toBe(true);
  });
});

describe('refusals are kept', () => {
  it('given a signup refused because its programme was off, when it is replayed after the programme is back on, then the answer is the same; another signup under its eventId is a conflict', async () => {
    const programId = await createProgram('Off and on');
    const code = await codeFor('otto', programId);
    await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: false });
    const event = { eventId: randomUUID(), customerId: 'olly', code };
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, event)).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: true });
    expect(await stack.http.post('/v1/events/signups', KEYS.commerce, event)).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    expect(
      await stack.http.post('/v1/events/signups', KEYS.commerce, { ...event, email: 'olly@example.com' }),
    ).toMatchObject({ status: 409, body: { code: 'idempotency_conflict' } });
    expect(
      (
        await stack.db
          .selectFrom('customers')
          .select('referred_by_referral_id')
          .where('id', '=', 'olly')
          .executeTakeFirst()
      )?.referred_by_referral_id ?? null,
    ).toBeNull();
  });

  it('given a claim refused under an Idempotency-Key, when it is repeated after the programme is back on, then the answer is the same', async () => {
    const programId = await createProgram('Claims off and on');
    const code = await codeFor('pete', programId);
    await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: false });
    const key = randomUUID();
    expect(await stack.http.post('/v1/referrals', KEYS.commerce, { code }, { 'idempotency-key': key })).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: true });
    expect(await stack.http.post('/v1/referrals', KEYS.commerce, { code }, { 'idempotency-key': key })).toMatchObject({
      status: 409,
      body: { code: 'program_inactive' },
    });
    expect(
      await stack.http.post('/v1/referrals', KEYS.commerce, { code, channel: 'sms' }, { 'idempotency-key': key }),
    ).toMatchObject({ status: 409, body: { code: 'idempotency_conflict' } });
  });
});

describe('a programme switched off', () => {
  it('given a claim made while the programme was active, when it is deactivated, then the claim can still be completed, but new claims and code-only signups are refused', async () => {
    const programId = await createProgram('Switched off');
    const code = await codeFor('xena', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'yann@example.com' },
    });
    expect((await stack.http.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: false })).status).toBe(200);

    const completing = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'yann',
      code,
      email: 'yann@example.com',
    });
    expect(completing).toMatchObject({ status: 201, body: { referralId: claim.body.id, status: 'registered' } });

    const newClaim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    expect(newClaim).toMatchObject({ status: 409, body: { code: 'program_inactive' } });
    const codeOnly = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'zoe',
      code,
    });
    expect(codeOnly).toMatchObject({ status: 409, body: { code: 'program_inactive' } });
  });
});

describe('facts after the end', () => {
  it('given a referral that has ended, when an order for its referee arrives, then it is kept and shown on the timeline as a late fact', async () => {
    const programId = await createProgram('Ends fast', { qualificationWindow: '2s' });
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'abe',
      code: await codeFor('bea', programId),
    });
    const referralId = signup.body.referralId;
    await untilStatus(referralId, 'expired');

    const order = {
      eventId: randomUUID(),
      customerId: 'abe',
      orderId: 'AB-1',
      status: 'completed',
      amount: 90_000,
      currency: 'INR',
      occurredAt: new Date().toISOString(),
    };
    expect(await stack.http.post('/v1/events/orders', KEYS.commerce, order)).toMatchObject({
      status: 202,
      body: { duplicate: false },
    });
    const timeline = await eventually(
      async () =>
        (await stack.http.get(`/v1/admin/referrals/${referralId}`, KEYS.admin)).body.timeline as Array<{
          kind: string;
          status: string;
          detail: Record<string, unknown>;
        }>,
      (entries) => entries.some((e) => e.kind === 'late_fact'),
    );
    expect(timeline.at(-1)).toMatchObject({
      kind: 'late_fact',
      status: 'expired',
      detail: { fact: 'order', eventId: order.eventId, orderId: 'AB-1' },
    });
    const kept = await stack.db
      .selectFrom('inbox_events')
      .select(['state', 'last_error'])
      .where('event_id', '=', order.eventId)
      .executeTakeFirstOrThrow();
    expect(kept).toEqual({ state: 'ignored', last_error: 'the referral has ended' });
    // a replay of the same event is acknowledged and appends nothing more
    await stack.http.post('/v1/events/orders', KEYS.commerce, order);
    const after = (await stack.http.get(`/v1/admin/referrals/${referralId}`, KEYS.admin)).body.timeline;
    expect(after.filter((e: { kind: string }) => e.kind === 'late_fact')).toHaveLength(1);
  });
});
