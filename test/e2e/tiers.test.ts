import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedger } from '../../db/ledger';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * Tiers end to end: a programme whose second tier starts at one completed referral, so a referrer's first completion
 * is paid at the first tier's multiplier and their second at the second's, and the customer's referrals show the tier
 * reached.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  if (stack) expect(await checkLedger(stack.db)).toEqual([]);
  await stack?.stop();
});

const REFERRER_POINTS = 300;

/** A signup with the referrer's code and a qualifying order; resolves once the referral has paid its referrer. */
async function completedReferral(code: string, refereeId: string): Promise<{ id: string; points: number }> {
  const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: refereeId,
    code,
  });
  expect(signup).toMatchObject({ status: 201, body: { status: 'registered' } });
  const order = await stack.http.post('/v1/events/orders', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: refereeId,
    orderId: `${refereeId}-1`,
    status: 'completed',
    amount: 60_000,
    currency: 'INR',
    occurredAt: new Date().toISOString(),
  });
  expect(order.status).toBe(202);
  const paid = await eventually(
    () => stack.http.get(`/v1/referrals/${signup.body.referralId}`, KEYS.commerce),
    (r) => r.body?.status === 'completed' && (r.body?.rewards?.referrerPoints ?? null) !== null,
    30_000,
  );
  return { id: signup.body.referralId, points: paid.body.rewards.referrerPoints.points };
}

describe('tiers over HTTP', () => {
  it("given a programme with tiers STARTER from 0 (×1) and PRO from 1 (×2), when a referrer's two referrals complete one after the other, then the first pays ×1, the second ×2, and the referrer stands at PRO with 2 completed", async () => {
    const programId = (
      await stack.http.post('/v1/admin/programs', KEYS.admin, {
        name: 'Tiered',
        currency: 'INR',
        terms: {
          qualificationWindow: '30s',
          rewardHold: '1s',
          lateEventGrace: '0s',
          referrerPoints: REFERRER_POINTS,
          tiers: [
            { name: 'STARTER', minCompleted: 0, multiplier: 1 },
            { name: 'PRO', minCompleted: 1, multiplier: 2 },
          ],
        },
      })
    ).body.id;
    const code = (await stack.http.post('/v1/customers/tess/referral-code', KEYS.commerce, { programId })).body.code;

    const before = await stack.http.get('/v1/customers/tess/referrals', KEYS.commerce);
    expect(before.body).toMatchObject({
      tier: { name: 'STARTER', multiplier: 1, completed: 0, next: { name: 'PRO', minCompleted: 1 } },
      stats: { sent: 0 },
      items: [],
    });

    // the completion that reaches PRO is paid at STARTER's multiplier: the tier in force is the one reached before it
    const first = await completedReferral(code, 'uma');
    expect(first.points).toBe(REFERRER_POINTS);
    const second = await completedReferral(code, 'vera');
    expect(second.points).toBe(REFERRER_POINTS * 2);

    const points = await stack.http.get('/v1/customers/tess/points', KEYS.commerce);
    expect(points.body.balance).toBe(REFERRER_POINTS * 3);
    expect(
      points.body.lots
        .map((lot: { points: number; source: { kind: string; referralId: string } }) => [
          lot.source.referralId,
          lot.source.kind,
          lot.points,
        ])
        .sort((a: number[], b: number[]) => Number(a[2]) - Number(b[2])),
    ).toEqual([
      [first.id, 'referral', REFERRER_POINTS],
      [second.id, 'referral', REFERRER_POINTS * 2],
    ]);

    const referrals = await stack.http.get('/v1/customers/tess/referrals', KEYS.commerce);
    expect(referrals).toMatchObject({
      status: 200,
      body: {
        customerId: 'tess',
        tier: { name: 'PRO', multiplier: 2, completed: 2, next: null },
        stats: { sent: 2, registered: 2, qualified: 2, completed: 2, expired: 0, rejected: 0 },
        nextCursor: null,
      },
    });
    expect(referrals.body.items.map((item: { id: string; status: string }) => [item.id, item.status])).toEqual([
      [second.id, 'completed'],
      [first.id, 'completed'],
    ]);
    // the completed entry on each referral's timeline names the tier it was paid at
    const timeline = async (id: string) =>
      (await stack.http.get(`/v1/admin/referrals/${id}`, KEYS.admin)).body.timeline.find(
        (entry: { kind: string }) => entry.kind === 'completed',
      )?.detail;
    expect(await timeline(first.id)).toMatchObject({ tier: 'STARTER', multiplier: 1 });
    expect(await timeline(second.id)).toMatchObject({ tier: 'PRO', multiplier: 2 });
  });
});
