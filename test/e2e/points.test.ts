import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger } from '../../db/ledger';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/** Points over HTTP with the lot's workflow on the dev server: a credit's expiry is its own durable timer. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  // a customer the engine knows: the code-issue call creates them
  const programId = (await stack.http.post('/v1/admin/programs', KEYS.admin, { name: 'Points', currency: 'INR' })).body
    .id;
  await stack.http.post('/v1/customers/nina/referral-code', KEYS.commerce, { programId });
}, 120_000);

afterAll(async () => {
  if (stack) expect(await checkLedger(stack.db)).toEqual([]);
  await stack?.stop();
});

describe('points over HTTP', () => {
  it('given an admin credit valid for seconds, when part is redeemed, then the rest expires on its timer with a ledger entry', async () => {
    const credit = await stack.http.post('/v1/admin/customers/nina/points/adjustments', KEYS.admin, {
      adjustmentId: 'welcome',
      points: 100,
      reason: 'welcome',
      validity: '4s',
    });
    expect(credit).toMatchObject({
      status: 201,
      body: { points: 100, balance: 100, duplicate: false, lot: { points: 100, remaining: 100, expired: false } },
    });
    expect(
      await stack.http.post('/v1/admin/customers/nina/points/adjustments', KEYS.admin, {
        adjustmentId: 'welcome',
        points: 100,
        reason: 'welcome',
        validity: '4s',
      }),
    ).toMatchObject({ status: 200, body: { duplicate: true, lot: { lotId: credit.body.lot.lotId } } });

    const redeemed = await stack.http.post('/v1/customers/nina/points/redemptions', KEYS.commerce, {
      redemptionId: 'basket-1',
      points: 40,
    });
    expect(redeemed).toMatchObject({
      status: 201,
      body: { balance: 60, takenFrom: [{ lotId: credit.body.lot.lotId, points: 40 }] },
    });

    const expired = await eventually(
      () => stack.http.get('/v1/customers/nina/points', KEYS.commerce),
      (r) => r.body.lots[0]?.expired === true,
    );
    expect(expired.body).toMatchObject({ balance: 0, expiringWithin30Days: 0, nextExpiry: null });
    const admin = await stack.http.get('/v1/admin/customers/nina', KEYS.admin);
    expect(admin.body.lots[0].entries.map((e: { kind: string; points: number }) => [e.kind, e.points])).toEqual([
      ['adjust', 100],
      ['redeem', -40],
      ['expire', -60],
    ]);

    // reversing the redemption now: the points come back to an expired lot and expire at once
    expect(
      await stack.http.post('/v1/customers/nina/points/redemptions/basket-1/reversal', KEYS.commerce),
    ).toMatchObject({ status: 200, body: { balance: 0 } });
    // the lot's workflow is done (visibility catches up eventually)
    const lotRuns = async () => {
      const names: string[] = [];
      for await (const execution of stack.temporal.workflow.list({ query: 'WorkflowType = "pointLotWorkflow"' }))
        names.push(execution.status.name);
      return names;
    };
    expect(await eventually(lotRuns, (names) => names.length === 1 && names[0] === 'COMPLETED')).toEqual(['COMPLETED']);
  });

  it('given a claim, a signup and a qualifying order, when the referral completes, then the referee holds a voucher, the referrer a lot of 2000 points, and the referral shows both', async () => {
    const programId = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, {
        name: 'Rewards',
        currency: 'INR',
        terms: { qualificationWindow: '30s', rewardHold: '1s', lateEventGrace: '0s' },
      })
    ).body.id;
    const code = (await stack.http.post('/v1/customers/omar/referral-code', KEYS.commerce, { programId })).body.code;
    const claim = await stack.http.post('/v1/referrals', KEYS.commerce, {
      code,
      invitee: { email: 'pam@example.com' },
    });
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'pam',
      code,
      email: 'pam@example.com',
    });
    expect(signup).toMatchObject({ status: 201, body: { referralId: claim.body.id, status: 'registered' } });
    const order = {
      eventId: randomUUID(),
      customerId: 'pam',
      orderId: 'P-1',
      status: 'completed',
      amount: 60_000,
      currency: 'INR',
      occurredAt: new Date().toISOString(),
    };
    expect((await stack.http.post('/v1/events/orders', KEYS.commerce, order)).status).toBe(202);

    const paid = await eventually(
      () => stack.http.get(`/v1/referrals/${claim.body.id}`, KEYS.commerce),
      (r) => r.body?.status === 'completed' && r.body?.rewards?.referrerPoints !== null,
      30_000,
    );
    expect(paid.body.rewards).toMatchObject({
      voucher: { amount: 5000, currency: 'INR', status: 'active', referralId: claim.body.id },
      referrerPoints: { points: 2000, remaining: 2000, source: { kind: 'referral', referralId: claim.body.id } },
      milestone: null,
    });
    const vouchers = await stack.http.get('/v1/customers/pam/vouchers', KEYS.commerce);
    expect(vouchers.body).toMatchObject([{ code: paid.body.rewards.voucher.code, status: 'active' }]);
    const points = await stack.http.get('/v1/customers/omar/points', KEYS.commerce);
    expect(points.body).toMatchObject({
      balance: 2000,
      lots: [{ lotId: paid.body.rewards.referrerPoints.lotId, points: 2000 }],
    });
    const admin = await stack.http.get(`/v1/admin/referrals/${claim.body.id}`, KEYS.admin);
    expect(admin.body.rewards.referrerPoints.lotId).toBe(paid.body.rewards.referrerPoints.lotId);
  });

  it("given a programme whose points are valid for seconds, when the referrer spends part of a referral's lot, then the rest expires on the lot's timer and the ledger says so", async () => {
    const programId = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, {
        name: 'Short-lived points',
        currency: 'INR',
        terms: {
          qualificationWindow: '30s',
          rewardHold: '1s',
          lateEventGrace: '0s',
          pointValidity: '5s',
          referrerPoints: 300,
        },
      })
    ).body.id;
    const code = (await stack.http.post('/v1/customers/quin/referral-code', KEYS.commerce, { programId })).body.code;
    const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
      eventId: randomUUID(),
      customerId: 'rita',
      code,
    });
    const referralId = signup.body.referralId;
    const order = {
      eventId: randomUUID(),
      customerId: 'rita',
      orderId: 'R-1',
      status: 'completed',
      amount: 60_000,
      currency: 'INR',
      occurredAt: new Date().toISOString(),
    };
    await stack.http.post('/v1/events/orders', KEYS.commerce, order);
    const paid = await eventually(
      () => stack.http.get(`/v1/referrals/${referralId}`, KEYS.commerce),
      (r) => r.body?.rewards?.referrerPoints !== null && r.body?.rewards?.referrerPoints !== undefined,
      30_000,
    );
    expect(paid.body.rewards.referrerPoints).toMatchObject({ points: 300 });
    expect(
      await stack.http.post('/v1/customers/quin/points/redemptions', KEYS.commerce, {
        redemptionId: 'q-1',
        points: 100,
      }),
    ).toMatchObject({ status: 201, body: { balance: 200 } });
    const expired = await eventually(
      () => stack.http.get('/v1/customers/quin/points', KEYS.commerce),
      (r) => r.body.lots[0]?.expired === true,
      30_000,
    );
    expect(expired.body.balance).toBe(0);
    const admin = await stack.http.get('/v1/admin/customers/quin', KEYS.admin);
    expect(admin.body.lots[0].entries.map((e: { kind: string; points: number }) => [e.kind, e.points])).toEqual([
      ['credit', 300],
      ['redeem', -100],
      ['expire', -200],
    ]);
  });

  it('given two admin credits at once under one adjustmentId with different points, then one is booked and answered 201, the other 409 idempotency_conflict', async () => {
    await stack.http.post('/v1/customers/sven/referral-code', KEYS.commerce, {
      programId: (await stack.http.post('/v1/admin/programs', KEYS.admin, { name: 'Race', currency: 'INR' })).body.id,
    });
    const answers = await Promise.all(
      [100, 250].map((points) =>
        stack.http.post('/v1/admin/customers/sven/points/adjustments', KEYS.admin, {
          adjustmentId: 'goodwill',
          points,
          reason: 'goodwill',
        }),
      ),
    );
    const booked = answers.filter((a) => a.status === 201);
    expect(booked).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409)).toMatchObject([{ body: { code: 'idempotency_conflict' } }]);
    const points = booked[0]!.body.points;
    expect(booked[0]!.body.lot).toMatchObject({ points, remaining: points, source: { kind: 'adjustment' } });
    expect((await stack.http.get('/v1/customers/sven/points', KEYS.commerce)).body).toMatchObject({
      balance: points,
      lots: [{ points }],
    });
  });
});
