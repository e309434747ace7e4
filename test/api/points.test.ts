import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { adjustmentKey, checkLedger, creditLot } from '../../db/ledger';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { appOver } from '../support/app';

/**
 * The points routes over a real database. Redemptions, reversals, debits and reads never need Temporal, so the client
 * fails the test if touched; credits are booked by a lot's workflow (test/e2e/points.test.ts), seeded here directly.
 */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;
let now = new Date('2026-11-25T12:00:00Z');

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db, { clock: () => now }));
  await api.post('/v1/customers/anna/referral-code', KEYS.commerce, {
    programId: (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Points', currency: 'INR' })).body.id,
  });
});
afterAll(async () => {
  expect(await checkLedger(db)).toEqual([]);
  await drop();
});

const ledgerSize = async () =>
  Number(
    (
      await db
        .selectFrom('ledger_entries')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
const adjust = (customerId: string, body: Record<string, unknown>, key = KEYS.admin) =>
  api.post(`/v1/admin/customers/${customerId}/points/adjustments`, key, body);

describe('points', () => {
  it('given a customer never seen, when their points are read, then 404 not_found', async () => {
    expect(await api.get('/v1/customers/ghost/points', KEYS.commerce)).toMatchObject({
      status: 404,
      contentType: 'application/problem+json',
      body: { code: 'not_found' },
    });
  });

  it('given an admin credit, when the customer redeems part and reverses it, then balance, lots and expiry read right and repeats change nothing', async () => {
    await creditLot(db, {
      customerId: 'anna',
      points: 2000,
      creditedAt: now,
      expiresAt: new Date('2027-05-26T00:00:00.000Z'),
      source: { kind: 'adjustment' },
      actor: 'ops',
      reason: 'welcome back',
      creditKey: adjustmentKey('anna', 'goodwill-1'),
    });
    // a repeat of the credit is answered from the ledger, without its workflow
    const credited = await adjust('anna', { adjustmentId: 'goodwill-1', points: 2000, reason: 'welcome back' });
    expect(credited).toMatchObject({
      status: 200,
      body: {
        points: 2000,
        balance: 2000,
        duplicate: true,
        lot: { points: 2000, remaining: 2000, source: { kind: 'adjustment' } },
      },
    });
    expect(await adjust('anna', { adjustmentId: 'goodwill-1', points: 2001, reason: 'welcome back' })).toMatchObject({
      status: 409,
      body: { code: 'idempotency_conflict' },
    });

    const redeemed = await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, {
      redemptionId: 'order-1',
      points: 500,
    });
    expect(redeemed).toMatchObject({
      status: 201,
      body: {
        redemptionId: 'order-1',
        points: 500,
        balance: 1500,
        takenFrom: [{ lotId: credited.body.lot.lotId, points: 500 }],
        duplicate: false,
      },
    });
    expect(
      await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, { redemptionId: 'order-1', points: 500 }),
    ).toMatchObject({ status: 200, body: { ...redeemed.body, duplicate: true } });
    expect(
      await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, { redemptionId: 'order-1', points: 400 }),
    ).toMatchObject({ status: 409, body: { code: 'idempotency_conflict' } });
    expect(
      await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, { redemptionId: 'order-2', points: 1501 }),
    ).toMatchObject({ status: 422, body: { code: 'insufficient_points' } });

    now = new Date('2027-05-01T00:00:00Z');
    const read = await api.get('/v1/customers/anna/points', KEYS.commerce);
    expect(read).toMatchObject({
      status: 200,
      body: {
        customerId: 'anna',
        balance: 1500,
        expiringWithin30Days: 1500,
        nextExpiry: { at: '2027-05-26T00:00:00.000Z', points: 1500 },
      },
    });

    expect(await api.post('/v1/customers/anna/points/redemptions/order-1/reversal', KEYS.commerce)).toMatchObject({
      status: 200,
      body: { redemptionId: 'order-1', reversed: true, balance: 2000 },
    });
    expect(await api.post('/v1/customers/anna/points/redemptions/order-1/reversal', KEYS.commerce)).toMatchObject({
      status: 200,
      body: { reversed: true, balance: 2000 },
    });
    expect(await api.post('/v1/customers/anna/points/redemptions/order-9/reversal', KEYS.commerce)).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });

    const admin = await api.get('/v1/admin/customers/anna', KEYS.admin);
    expect(admin.status).toBe(200);
    expect(admin.body.lots[0].entries.map((e: { kind: string; points: number }) => [e.kind, e.points])).toEqual([
      ['adjust', 2000],
      ['redeem', -500],
      ['reverse', 500],
    ]);
    expect(admin.body.lots[0].entries[0]).toMatchObject({ actor: 'ops', reason: 'welcome back' });
    now = new Date('2026-11-25T12:00:00Z');
  });

  it('given a reversed redemption, when the same body is sent again, then 200 duplicate says it was reversed and nothing is taken', async () => {
    await creditLot(db, {
      customerId: 'bert',
      points: 300,
      creditedAt: now,
      expiresAt: new Date('2027-05-26T00:00:00.000Z'),
      source: { kind: 'adjustment' },
      creditKey: adjustmentKey('bert', 'seed-1'),
    });
    const body = { redemptionId: 'order-1', points: 120 };
    const redeemed = await api.post('/v1/customers/bert/points/redemptions', KEYS.commerce, body);
    expect(redeemed).toMatchObject({ status: 201, body: { balance: 180, duplicate: false } });
    expect(redeemed.body).not.toHaveProperty('reversed');
    const repeated = await api.post('/v1/customers/bert/points/redemptions', KEYS.commerce, body);
    expect(repeated).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(repeated.body).not.toHaveProperty('reversed');

    expect(await api.post('/v1/customers/bert/points/redemptions/order-1/reversal', KEYS.commerce)).toMatchObject({
      status: 200,
      body: { reversed: true, balance: 300 },
    });
    const before = await ledgerSize();
    expect(await api.post('/v1/customers/bert/points/redemptions', KEYS.commerce, body)).toMatchObject({
      status: 200,
      body: { ...redeemed.body, balance: 300, duplicate: true, reversed: true },
    });
    expect(await ledgerSize()).toBe(before);
    expect((await api.get('/v1/customers/bert/points', KEYS.commerce)).body.balance).toBe(300);
  });

  it('given bad points, when a redemption or an adjustment is asked, then 400 validation_failed and nothing is written', async () => {
    const before = await ledgerSize();
    for (const points of [0, -5, 1.5, 1e12, '10', null]) {
      expect(
        await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, {
          redemptionId: `bad-${String(points)}`,
          points,
        }),
      ).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
    }
    for (const points of [0, 2.5, -1e12, 1e12]) {
      expect(await adjust('anna', { adjustmentId: `bad-${points}`, points, reason: 'x' })).toMatchObject({
        status: 400,
        body: { code: 'validation_failed' },
      });
    }
    for (const validity of ['0 months', '300000 years', 'soon', '1.5 years']) {
      expect(await adjust('anna', { adjustmentId: `bad-${validity}`, points: 5, reason: 'x', validity })).toMatchObject(
        { status: 400, body: { code: 'validation_failed' } },
      );
    }
    expect(await adjust('anna', { adjustmentId: 'no-reason', points: 5 })).toMatchObject({
      status: 400,
      body: { code: 'validation_failed' },
    });
    expect(
      await api.post('/v1/customers/anna/points/redemptions', KEYS.commerce, {
        redemptionId: 'bad\u0000id',
        points: 1,
      }),
    ).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
    expect(await ledgerSize()).toBe(before);
  });

  it('given a debit beyond the balance or for a customer never seen, then it is refused with nothing written; a commerce key cannot adjust; a debit within the balance is booked once', async () => {
    const before = await ledgerSize();
    expect(await adjust('anna', { adjustmentId: 'too-much', points: -1_000_000, reason: 'fraud' })).toMatchObject({
      status: 422,
      body: { code: 'insufficient_points' },
    });
    const debit = await adjust('anna', { adjustmentId: 'fraud-1', points: -300, reason: 'fraud' });
    expect(debit).toMatchObject({
      status: 201,
      body: { points: -300, balance: 1700, lot: null, takenFrom: [{ points: 300 }] },
    });
    expect(await adjust('anna', { adjustmentId: 'fraud-1', points: -300, reason: 'fraud' })).toMatchObject({
      status: 200,
      body: { duplicate: true, balance: 1700 },
    });
    expect(await adjust('ghost', { adjustmentId: 'g-1', points: 5, reason: 'x' })).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });
    expect(await adjust('anna', { adjustmentId: 'c-1', points: 5, reason: 'x' }, KEYS.commerce)).toMatchObject({
      status: 403,
      body: { code: 'forbidden' },
    });
    expect(await ledgerSize()).toBe(before + 1);
  });
});
