import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * The fraud review end to end: flags computed from what the commerce backend sends, a flagged signup waiting in the
 * review queue, an admin's approval, its audit entry, and the search attribute operators filter on.
 */
let stack: Stack;
let programId: string;

beforeAll(async () => {
  stack = await startStack();
  programId = (
    await stack.http.post('/v1/admin/programs', KEYS.admin, {
      name: 'Reviewed',
      currency: 'INR',
      terms: { qualificationWindow: '1 minute', rewardHold: '1s', minSpend: 50_000, lateEventGrace: '0s' },
    })
  ).body.id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const shared = { ip: '203.0.113.7', deviceId: 'device-rita-1' };

describe('fraud review over HTTP', () => {
  it('given a signup from the referrer’s IP and device, then it waits in the review queue with its flags until an admin approves it, and the approval is audited', async () => {
    const code = (
      await stack.http.post('/v1/customers/rita/referral-code', KEYS.commerce, { programId, context: shared })
    ).body.code;
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'sam',
      code,
      context: shared,
    });
    expect(signup.status).toBe(201);
    expect(signup.body.status).toBe('under_review');
    const referralId: string = signup.body.referralId;

    const read = await stack.http.get(`/v1/referrals/${referralId}`, KEYS.commerce);
    expect(read.body.flags).toEqual(['DEVICE_REUSE', 'SAME_IP']);
    expect(read.body.review?.decideBy).toEqual(expect.any(String));
    const queue = await stack.http.get('/v1/admin/review-queue', KEYS.admin);
    expect(queue.body.items.map((r: { id: string }) => r.id)).toContain(referralId);
    const visible = await eventually(
      async () => {
        const found: string[] = [];
        for await (const w of stack.temporal.workflow.list({ query: `ReferralFlags = "SAME_IP"` }))
          found.push(w.workflowId);
        return found;
      },
      (found) => found.includes(`referral-${referralId}`),
    );
    expect(visible).toContain(`referral-${referralId}`);
    // nothing paid while it waits
    expect((await stack.http.get('/v1/customers/sam/vouchers', KEYS.commerce)).body).toEqual([]);

    const approved = await stack.http.post(`/v1/admin/referrals/${referralId}/approve`, KEYS.admin, {
      requestId: 'approve-sam',
      reason: 'known household',
    });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('registered');
    const vouchers = (await stack.http.get('/v1/customers/sam/vouchers', KEYS.commerce)).body;
    expect(vouchers).toEqual([expect.objectContaining({ status: 'active', referralId })]);
    const audit = await eventually(
      () => stack.http.get(`/v1/admin/audit?referralId=${referralId}`, KEYS.admin),
      (r) => r.body?.items?.length === 1,
    );
    expect(audit.body.items[0]).toMatchObject({
      action: 'approve',
      requestId: 'approve-sam',
      reason: 'known household',
      before: expect.objectContaining({ status: 'under_review' }),
      after: expect.objectContaining({ status: 'registered' }),
    });
    const queueAfter = await stack.http.get('/v1/admin/review-queue', KEYS.admin);
    expect(queueAfter.body.items.map((r: { id: string }) => r.id)).not.toContain(referralId);
  });

  it('given a signup with nothing in common with the referrer, then it registers at once with no flags', async () => {
    const code = (
      await stack.http.post('/v1/customers/una/referral-code', KEYS.commerce, { programId, context: shared })
    ).body.code;
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'vera',
      code,
      context: { ip: '198.51.100.20', deviceId: 'device-vera' },
    });
    expect(signup.body.status).toBe('registered');
    expect((await stack.http.get(`/v1/referrals/${signup.body.referralId}`, KEYS.commerce)).body.flags).toEqual([]);
  });

  it('given a referrer known only from their own plain signup’s IP and device, when their referee signs up from them (written another way), then it is flagged for review', async () => {
    await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'wes',
      context: { ip: '192.0.2.44', deviceId: 'device-wes' },
    });
    const code = (await stack.http.post('/v1/customers/wes/referral-code', KEYS.commerce, { programId })).body.code;
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'xan',
      code,
      context: { ip: '::ffff:192.0.2.44', deviceId: ' device-wes ' },
    });
    expect(signup.body.status).toBe('under_review');
    expect((await stack.http.get(`/v1/referrals/${signup.body.referralId}`, KEYS.commerce)).body.flags).toEqual([
      'DEVICE_REUSE',
      'SAME_IP',
    ]);
  });

  it('given a referrer’s burst of claims after a first one, when the first claim’s invitee signs up, then velocity is counted up to that claim, not up to the signup', async () => {
    const burstProgram = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, {
        name: 'Velocity',
        currency: 'INR',
        terms: { review: { velocityLimit: 2 } },
      })
    ).body.id;
    const code = (await stack.http.post('/v1/customers/yan/referral-code', KEYS.commerce, { programId: burstProgram }))
      .body.code;
    const first = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'zoe@example.com' },
    });
    for (let i = 0; i < 3; i++) await stack.http.post('/v1/referrals', KEYS.commerce, { code });
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'zoe',
      referralId: first.body.id,
    });
    expect(signup.body.status).toBe('registered');
    expect((await stack.http.get(`/v1/referrals/${first.body.id}`, KEYS.commerce)).body.flags).toEqual([]);
  });

  it('given a limit of 2, when four signups by a referrer’s code arrive at once, then exactly two of them are HIGH_VELOCITY', async () => {
    const burstProgram = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, {
        name: 'Code burst',
        currency: 'INR',
        terms: { review: { velocityLimit: 2 } },
      })
    ).body.id;
    const referrer = `vic-${randomUUID()}`;
    const code = (
      await stack.http.post(`/v1/customers/${referrer}/referral-code`, KEYS.commerce, { programId: burstProgram })
    ).body.code;
    // One instant for all four, so whichever is counted last has every other one in its window.
    const occurredAt = new Date().toISOString();
    const signups = await Promise.all(
      Array.from({ length: 4 }, () =>
        stack.http.post('/v1/events/signups', KEYS.commerce, {
          eventId: randomUUID(),
          customerId: `referee-${randomUUID()}`,
          code,
          occurredAt,
        }),
      ),
    );
    expect(signups.map((signup) => signup.status)).toEqual([201, 201, 201, 201]);
    const flags = await Promise.all(
      signups.map(
        async (signup) => (await stack.http.get(`/v1/referrals/${signup.body.referralId}`, KEYS.commerce)).body.flags,
      ),
    );
    expect(flags.filter((f: string[]) => f.includes('HIGH_VELOCITY'))).toHaveLength(2);
    // counted from the projection once written: nothing is left counted early
    const early = await stack.db
      .selectFrom('referrals_counted_early')
      .select('referral_id')
      .where('referrer_id', '=', referrer)
      .execute();
    expect(early).toEqual([]);
  });
});
