import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptEvent } from '../../db/inbox';
import { currentProgramSnapshot } from '../../db/programs';
import { uuidFromKey } from '../../intake/ids';
import { signupFingerprint, type SignupEvent } from '../../intake/signup-registration';
import { ProgramIdKey, ReferralCodeKey, ReferrerIdKey } from '../../workflows/search-attributes';
import { referralWorkflowId, TASK_QUEUE, type ReferralInput } from '../../workflows/shared';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * Signups whose delivery comes late: accepted by the API and finished by the inbox relay after a crash, or reported
 * after the claim they were made for has lapsed. However late it comes, a signup is judged against its referrer and
 * registers to the referral its answer names. HTTP in, the dev server, the worker and real PostgreSQL underneath.
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
const codeFor = async (customerId: string, programId: string, extra: Record<string, unknown> = {}) =>
  (await stack.http.post(`/v1/customers/${customerId}/referral-code`, KEYS.commerce, { programId, ...extra })).body
    .code as string;
const readReferral = (id: string) => stack.http.get(`/v1/referrals/${id}`, KEYS.commerce);
const untilStatus = (id: string, status: string) =>
  eventually(
    () => readReferral(id),
    (r) => r.body?.status === status,
  );
/** The referral a signup creates when it has none to complete: named after its event id. */
const ownReferralOf = (eventId: string) => uuidFromKey('signup', eventId);

/** A signup the API accepted and kept, whose delivery it did not finish: the inbox relay takes it up. */
async function keptForTheRelay(signup: SignupEvent & { occurredAt: string }, referralId: string): Promise<void> {
  const payload = JSON.parse(JSON.stringify(signup)) as Record<string, unknown>;
  const kept = await acceptEvent(stack.db, {
    kind: 'signup',
    eventId: signup.eventId,
    customerId: signup.customerId,
    payload,
    hash: signupFingerprint(signup),
    referralId,
  });
  expect(kept.accepted).toBe(true);
}

/** The inbox event once the relay has settled it, delivered or refused. */
const settled = (eventId: string) =>
  eventually(
    () =>
      stack.db
        .selectFrom('inbox_events')
        .select(['state', 'referral_id', 'response'])
        .where('kind', '=', 'signup')
        .where('event_id', '=', eventId)
        .executeTakeFirstOrThrow(),
    (row) => row.state !== 'received',
  );

describe('a signup the relay delivers before its referral is in the projection', () => {
  it('given a code signup from the referrer’s IP and device whose referral was started but not registered when the API died, when the relay delivers it, then it carries both flags and waits for review', async () => {
    const programId = await createProgram('Resumed review');
    const context = { ip: '198.51.100.23', deviceId: 'device-nora-1' };
    const code = await codeFor('nora', programId, { context });

    // The API accepted the signup and started its referral (update-with-start), then died before the registration:
    // the workflow runs, waiting for it, and has written nothing to the projection.
    const eventId = randomUUID();
    const referralId = ownReferralOf(eventId);
    const occurredAt = new Date().toISOString();
    const program = await currentProgramSnapshot(stack.db, programId);
    const { active: _active, ...snapshot } = program!;
    const input: ReferralInput = {
      referralId,
      program: snapshot,
      code,
      referrerId: 'nora',
      createdAt: occurredAt,
      origin: 'signup',
    };
    await stack.temporal.workflow.start('referralLifecycle', {
      taskQueue: TASK_QUEUE,
      workflowId: referralWorkflowId(referralId),
      args: [input],
      typedSearchAttributes: [
        { key: ReferrerIdKey, value: 'nora' },
        { key: ProgramIdKey, value: programId },
        { key: ReferralCodeKey, value: code },
      ],
    });
    expect(await stack.db.selectFrom('referrals').select('id').where('id', '=', referralId).execute()).toEqual([]);

    await keptForTheRelay({ eventId, customerId: 'olaf', code, occurredAt, context }, referralId);

    const event = await settled(eventId);
    expect(event).toMatchObject({
      state: 'delivered',
      referral_id: referralId,
      response: { referralId, status: 'under_review' },
    });
    const read = await readReferral(referralId);
    expect(read.body).toMatchObject({ status: 'under_review', referrerId: 'nora', refereeId: 'olaf' });
    expect(read.body.flags).toEqual(['DEVICE_REUSE', 'SAME_IP']);
    // nothing paid while it waits
    expect((await stack.http.get('/v1/customers/olaf/vouchers', KEYS.commerce)).body).toEqual([]);
  });
});

describe('a signup made before its claim expired, delivered after the claim lapsed', () => {
  it('given a claim that lapsed still holding the invitee (its registration was lost in a crash), when the signup made in time arrives, then the hold is released and the signup registers to a referral of its own, the one its answer names', async () => {
    const programId = await createProgram('Lapsed hold', { referralExpiry: '2s' });
    const code = await codeFor('vera', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'wes@example.com' },
    });
    expect(claim.status).toBe(201);
    const claimId: string = claim.body.id;
    // What the claim's registration wrote before the worker and Temporal died under it, unrecorded: the invitee held.
    await stack.db
      .insertInto('customers')
      .values({
        id: 'wes',
        email_normalized: 'wes@example.com',
        phone_normalized: null,
        referred_by_referral_id: claimId,
      })
      .execute();
    await untilStatus(claimId, 'expired');

    const signup = {
      eventId: randomUUID(),
      customerId: 'wes',
      referralId: claimId,
      email: 'wes@example.com',
      occurredAt: new Date(Date.parse(claim.body.expiresAt) - 1_000).toISOString(),
    };
    const answer = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(answer).toMatchObject({
      status: 201,
      body: { status: 'registered', refereeId: 'wes', referrerId: 'vera', code },
    });
    const referralId: string = answer.body.referralId;
    expect(referralId).toBe(ownReferralOf(signup.eventId));
    expect(referralId).not.toBe(claimId);

    // one referral for the invitee, the one the answer named; the claim stays expired, with no referee
    const held = await stack.db
      .selectFrom('customers')
      .select('referred_by_referral_id')
      .where('id', '=', 'wes')
      .executeTakeFirstOrThrow();
    expect(held.referred_by_referral_id).toBe(referralId);
    const rows = await stack.db
      .selectFrom('referrals')
      .select(['id', 'status', 'referee_id'])
      .where('id', 'in', [claimId, referralId])
      .orderBy('status')
      .execute();
    expect(rows).toEqual([
      { id: claimId, status: 'expired', referee_id: null },
      { id: referralId, status: 'registered', referee_id: 'wes' },
    ]);
    const replay = await stack.http.post('/v1/events/signups', KEYS.commerce, signup);
    expect(replay).toMatchObject({ status: 200, body: { duplicate: true, referralId, refereeId: 'wes' } });
  });

  it('given a signup naming only its lapsed claim, moved to a referral of its own just before the API died, when the relay delivers it, then it registers under the claim’s code', async () => {
    const programId = await createProgram('Moved, then died', { referralExpiry: '2s' });
    const code = await codeFor('xena', programId);
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    expect(claim.status).toBe(201);
    const claimId: string = claim.body.id;
    await untilStatus(claimId, 'expired');

    // Accepted for the claim, found it lapsed, moved to its own referral; the API died before starting it.
    const signup = {
      eventId: randomUUID(),
      customerId: 'yann',
      referralId: claimId,
      occurredAt: new Date(Date.parse(claim.body.expiresAt) - 1_000).toISOString(),
    };
    const referralId = ownReferralOf(signup.eventId);
    await keptForTheRelay(signup, referralId);

    const event = await settled(signup.eventId);
    expect(event).toMatchObject({
      state: 'delivered',
      referral_id: referralId,
      response: { referralId, status: 'registered', refereeId: 'yann', code },
    });
    expect((await readReferral(referralId)).body).toMatchObject({ status: 'registered', referrerId: 'xena' });
    expect((await readReferral(claimId)).body.status).toBe('expired');
  });
});
