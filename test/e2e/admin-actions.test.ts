import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * The admin actions end to end: HTTP in, the referral's workflow on the Temporal dev server applying them, the audit
 * log and the projection in real PostgreSQL. The programme's window is seconds long, so a deadline moved by an admin
 * is one the test can see move.
 */
let stack: Stack;
let programId: string;

beforeAll(async () => {
  stack = await startStack();
  const program = await stack.http.post('/v1/admin/programs', KEYS.admin, {
    name: 'Admin actions',
    currency: 'INR',
    terms: {
      referralExpiry: '1 minute',
      qualificationWindow: '30s',
      rewardHold: '2s',
      minOrders: 1,
      minSpend: 50_000,
      lateEventGrace: '1s',
    },
  });
  expect(program.status).toBe(201);
  programId = program.body.id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** A referral claimed with `referrer`'s code and signed up to by `referee`: registered, its voucher issued and shown. */
async function registeredReferral(referrer: string, referee: string): Promise<string> {
  const code = (await stack.http.post(`/v1/customers/${referrer}/referral-code`, KEYS.commerce, { programId })).body
    .code;
  const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
    code,
    invitee: { email: `${referee}@example.com` },
  });
  expect(claim.status).toBe(201);
  const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: referee,
    referralId: claim.body.id,
    email: `${referee}@example.com`,
  });
  expect(signup).toMatchObject({ status: 201, body: { status: 'registered' } });
  // The signup is answered once the registration is projected; the voucher is issued and projected just after.
  await eventually(
    () => stack.http.get(`/v1/admin/referrals/${claim.body.id}`, KEYS.admin),
    (read) => read.body.timeline.some((entry: { kind: string }) => entry.kind === 'voucher_issued'),
  );
  return claim.body.id;
}

const auditOf = async (referralId: string) =>
  (await stack.http.get(`/v1/admin/audit?referralId=${referralId}`, KEYS.admin)).body;

describe('admin actions over HTTP', () => {
  it('given a registered referral, when an admin extends its window by 10s and then rejects it, then the deadline moves, it ends rejected with its voucher void, and the audit log shows both with the referral before and after', async () => {
    const referralId = await registeredReferral('ada', 'bo');
    const before = (await stack.http.get(`/v1/admin/referrals/${referralId}`, KEYS.admin)).body;
    const qualifyBy = before.deadlines.qualifyBy as string;
    const moved = new Date(Date.parse(qualifyBy) + 10_000).toISOString();

    const extendBody = { requestId: randomUUID(), by: '10s', reason: 'shop closed for a day' };
    const extended = await stack.http.post(`/v1/admin/referrals/${referralId}/extend`, KEYS.admin, extendBody);
    expect(extended).toMatchObject({
      status: 200,
      body: {
        id: referralId,
        status: 'registered',
        deadlines: { qualifyBy: moved },
        live: { status: 'registered', deadlines: { qualifyBy: moved } },
        duplicate: false,
      },
    });
    expect(extended.body.timeline.at(-1)).toMatchObject({
      kind: 'deadline_extended',
      detail: { actor: 'ops', requestId: extendBody.requestId, reason: extendBody.reason, from: qualifyBy, to: moved },
    });
    // the same request again: the same answer, and the deadline moved once
    expect(await stack.http.post(`/v1/admin/referrals/${referralId}/extend`, KEYS.admin, extendBody)).toMatchObject({
      status: 200,
      body: { ...extended.body, duplicate: true },
    });
    expect((await stack.http.get(`/v1/referrals/${referralId}`, KEYS.commerce)).body.deadlines.qualifyBy).toBe(moved);
    const afterExtend = await auditOf(referralId);
    expect(afterExtend).toEqual({
      items: [
        {
          id: expect.any(String),
          at: expect.any(String),
          actor: 'ops',
          action: 'extend',
          referralId,
          requestId: extendBody.requestId,
          reason: extendBody.reason,
          before: expect.objectContaining({ status: 'registered', deadlines: expect.objectContaining({ qualifyBy }) }),
          after: expect.objectContaining({
            status: 'registered',
            deadlines: expect.objectContaining({ qualifyBy: moved }),
          }),
        },
      ],
      nextCursor: null,
    });

    const rejectId = randomUUID();
    const rejected = await stack.http.post(`/v1/admin/referrals/${referralId}/reject`, KEYS.admin, {
      requestId: rejectId,
      reason: 'same card as the referrer',
    });
    expect(rejected).toMatchObject({ status: 200, body: { status: 'rejected', endedAt: expect.any(String) } });
    expect(rejected.body.rewards.voucher).toMatchObject({ status: 'void' });
    const vouchers = await stack.http.get('/v1/customers/bo/vouchers', KEYS.commerce);
    expect(vouchers.body).toMatchObject([{ referralId, status: 'void' }]);
    const audit = await auditOf(referralId);
    expect(audit.items.map((item: { action: string }) => item.action)).toEqual(['reject', 'extend']);
    expect(audit.items[0]).toMatchObject({
      actor: 'ops',
      requestId: rejectId,
      reason: 'same card as the referrer',
      before: { status: 'registered' },
      after: { status: 'rejected' },
    });
    // by actor too
    const byActor = (await stack.http.get('/v1/admin/audit?actor=ops', KEYS.admin)).body.items;
    expect(byActor.map((item: { requestId: string }) => item.requestId)).toEqual(
      expect.arrayContaining([rejectId, extendBody.requestId]),
    );

    // a rejected referral takes no further action: another extend is refused and changes nothing
    expect(
      await stack.http.post(`/v1/admin/referrals/${referralId}/extend`, KEYS.admin, {
        requestId: randomUUID(),
        by: '10s',
      }),
    ).toMatchObject({ status: 409, body: { code: 'invalid_transition' } });
    expect((await auditOf(referralId)).items).toHaveLength(2);
  });

  it('given a registered referral that is not under review, when an admin approves it, then 409 invalid_transition, the referral is as it was and nothing is in the audit log', async () => {
    const referralId = await registeredReferral('cy', 'dee');
    const before = (await stack.http.get(`/v1/referrals/${referralId}`, KEYS.commerce)).body;
    const body = { requestId: randomUUID(), reason: 'looks fine' };
    const refused = await stack.http.post(`/v1/admin/referrals/${referralId}/approve`, KEYS.admin, body);
    expect(refused).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      body: { code: 'invalid_transition' },
    });
    expect((await stack.http.get(`/v1/referrals/${referralId}`, KEYS.commerce)).body).toEqual(before);
    expect(await auditOf(referralId)).toEqual({ items: [], nextCursor: null });
    // the same request again gets the same refusal
    expect(await stack.http.post(`/v1/admin/referrals/${referralId}/approve`, KEYS.admin, body)).toMatchObject({
      status: 409,
      body: { code: 'invalid_transition' },
    });
    // a commerce key is refused before anything is asked
    expect(
      (await stack.http.post(`/v1/admin/referrals/${referralId}/approve`, KEYS.commerce, { requestId: randomUUID() }))
        .status,
    ).toBe(403);
  });
});
