import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import {
  adjustmentKey,
  checkLedger,
  creditLot,
  debitPoints,
  expireLot,
  findAdjustment,
  findCustomerPoints,
  findLedgerEntries,
  redeemPoints,
  reverseRedemption,
} from '../../db/ledger';
import { createTestDatabase } from '../support/database';

let db: DB;
let url: string;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, url, drop } = await createTestDatabase());
});

/** `npm run ledger:check` as an operator runs it. */
const ledgerCheck = () =>
  spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ledger-check.ts'], {
    env: { ...process.env, DATABASE_URL: url },
    encoding: 'utf8',
  });
afterAll(async () => {
  // every scenario leaves the ledger balanced
  expect(await checkLedger(db)).toEqual([]);
  await drop();
});

const at = (iso: string) => new Date(iso);
const credit = (
  customerId: string,
  points: number,
  expiresAt: string,
  key: string,
  creditedAt = '2026-01-01T00:00:00Z',
) =>
  creditLot(db, {
    customerId,
    points,
    creditedAt: at(creditedAt),
    expiresAt: at(expiresAt),
    source: { kind: 'referral', referralId: null },
    creditKey: key,
  });

describe('points ledger', () => {
  it('given two lots, when points are redeemed, then the soonest-expiring lot gives first and the balance is the sum of the ledger', async () => {
    const late = await credit('ann', 100, '2026-09-01T00:00:00Z', 'ann-late');
    const soon = await credit('ann', 50, '2026-06-01T00:00:00Z', 'ann-soon');
    const redeemed = await redeemPoints(db, {
      customerId: 'ann',
      redemptionId: 'r-1',
      points: 70,
      now: at('2026-02-01T00:00:00Z'),
    });
    expect(redeemed).toMatchObject({ outcome: 'redeemed', balance: 80, duplicate: false });
    expect(redeemed.outcome === 'redeemed' && redeemed.redemption.taken_from).toEqual([
      { lotId: soon.lot.id, points: 50 },
      { lotId: late.lot.id, points: 20 },
    ]);
    const entries = await findLedgerEntries(db, 'ann');
    expect(entries.map((e) => [e.kind, e.points])).toEqual([
      ['credit', 100],
      ['credit', 50],
      ['redeem', -50],
      ['redeem', -20],
    ]);
    expect((await findCustomerPoints(db, 'ann'))?.balance).toBe(80);
  });

  it('given a redemption, when it is repeated, then the same points answer as a duplicate and other points are a conflict, nothing booked twice', async () => {
    await credit('bob', 100, '2026-09-01T00:00:00Z', 'bob-1');
    const now = at('2026-02-01T00:00:00Z');
    await redeemPoints(db, { customerId: 'bob', redemptionId: 'r-1', points: 30, now });
    expect(await redeemPoints(db, { customerId: 'bob', redemptionId: 'r-1', points: 30, now })).toMatchObject({
      outcome: 'redeemed',
      duplicate: true,
      balance: 70,
    });
    expect(await redeemPoints(db, { customerId: 'bob', redemptionId: 'r-1', points: 31, now })).toMatchObject({
      outcome: 'conflict',
    });
    expect((await findLedgerEntries(db, 'bob')).filter((e) => e.kind === 'redeem')).toHaveLength(1);
  });

  it('given a balance short of the points, when they are redeemed, then nothing is taken; an unknown customer is told apart', async () => {
    await credit('cid', 40, '2026-09-01T00:00:00Z', 'cid-1');
    await credit('cid', 40, '2026-01-15T00:00:00Z', 'cid-expired');
    // the second lot has passed its expiry (its timer not yet run): it gives nothing
    expect(
      await redeemPoints(db, { customerId: 'cid', redemptionId: 'r-1', points: 50, now: at('2026-02-01T00:00:00Z') }),
    ).toEqual({ outcome: 'insufficient', balance: 80 });
    expect(await findLedgerEntries(db, 'cid')).toHaveLength(2);
    expect(
      await redeemPoints(db, { customerId: 'nobody', redemptionId: 'r-1', points: 1, now: at('2026-02-01T00:00:00Z') }),
    ).toEqual({ outcome: 'unknown_customer' });
  });

  it('given many redemptions for one customer at once, then they never overdraw: exactly as many succeed as the balance covers', async () => {
    await credit('dee', 100, '2026-09-01T00:00:00Z', 'dee-1');
    await credit('dee', 50, '2026-08-01T00:00:00Z', 'dee-2');
    const now = at('2026-02-01T00:00:00Z');
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        redeemPoints(db, { customerId: 'dee', redemptionId: `r-${i}`, points: 10, now }),
      ),
    );
    expect(outcomes.filter((o) => o.outcome === 'redeemed')).toHaveLength(15);
    expect(outcomes.filter((o) => o.outcome === 'insufficient')).toHaveLength(10);
    expect((await findCustomerPoints(db, 'dee'))?.balance).toBe(0);
  });

  it('given a redemption from a lot that expired since, when it is reversed, then the points come back and expire at once, with entries saying so', async () => {
    const lot = await credit('eve', 100, '2026-03-01T00:00:00Z', 'eve-1');
    await redeemPoints(db, { customerId: 'eve', redemptionId: 'r-1', points: 60, now: at('2026-02-01T00:00:00Z') });
    expect(await expireLot(db, lot.lot.id, at('2026-03-01T00:00:00Z'))).toEqual({ expired: 40 });
    expect(await expireLot(db, lot.lot.id, at('2026-03-01T00:00:01Z'))).toEqual({ expired: 0 });

    const reversed = await reverseRedemption(db, {
      customerId: 'eve',
      redemptionId: 'r-1',
      now: at('2026-03-05T00:00:00Z'),
    });
    expect(reversed).toEqual({ outcome: 'reversed', balance: 0, duplicate: false });
    expect(
      await reverseRedemption(db, { customerId: 'eve', redemptionId: 'r-1', now: at('2026-03-06T00:00:00Z') }),
    ).toEqual({ outcome: 'reversed', balance: 0, duplicate: true });
    expect((await findLedgerEntries(db, 'eve')).map((e) => [e.kind, e.points])).toEqual([
      ['credit', 100],
      ['redeem', -60],
      ['expire', -40],
      ['reverse', 60],
      ['expire', -60],
    ]);
    expect(
      await reverseRedemption(db, { customerId: 'eve', redemptionId: 'unknown', now: at('2026-03-06T00:00:00Z') }),
    ).toEqual({ outcome: 'not_found' });
  });

  it('given a redemption from a lot past its expiry whose timer has not run, when it is reversed, then the points go back and the timer expires all that is left', async () => {
    const lot = await credit('eli', 100, '2026-03-01T00:00:00Z', 'eli-1');
    await redeemPoints(db, { customerId: 'eli', redemptionId: 'r-1', points: 40, now: at('2026-02-01T00:00:00Z') });

    // 2026-03-01 has passed; the lot's workflow has not expired it yet
    expect(
      await reverseRedemption(db, { customerId: 'eli', redemptionId: 'r-1', now: at('2026-03-01T00:00:05Z') }),
    ).toEqual({ outcome: 'reversed', balance: 100, duplicate: false });
    expect(await expireLot(db, lot.lot.id, at('2026-03-01T00:00:10Z'))).toEqual({ expired: 100 });

    const points = await findCustomerPoints(db, 'eli');
    expect(points?.balance).toBe(0);
    expect(points?.lots).toMatchObject([{ id: lot.lot.id, remaining: 0, expired_at: at('2026-03-01T00:00:10Z') }]);
    expect((await findLedgerEntries(db, 'eli')).map((e) => [e.kind, e.points])).toEqual([
      ['credit', 100],
      ['redeem', -40],
      ['reverse', 40],
      ['expire', -100],
    ]);
    expect(await checkLedger(db)).toEqual([]);
  });

  it('given a redemption from a live lot, when it is reversed, then the points are back in that lot', async () => {
    const lot = await credit('fay', 100, '2026-09-01T00:00:00Z', 'fay-1');
    await redeemPoints(db, { customerId: 'fay', redemptionId: 'r-1', points: 60, now: at('2026-02-01T00:00:00Z') });
    expect(
      await reverseRedemption(db, { customerId: 'fay', redemptionId: 'r-1', now: at('2026-02-02T00:00:00Z') }),
    ).toMatchObject({ balance: 100 });
    expect((await findCustomerPoints(db, 'fay'))?.lots.find((l) => l.id === lot.lot.id)?.remaining).toBe(100);
  });

  it('given an admin debit, when it is repeated, then it is booked once; it takes from the soonest lots and is refused beyond the balance', async () => {
    await credit('gus', 30, '2026-09-01T00:00:00Z', 'gus-1');
    await credit('gus', 20, '2026-08-01T00:00:00Z', adjustmentKey('gus', 'a-1'));
    const request = { customerId: 'gus', reason: 'fraud', actor: 'ops', now: at('2026-02-01T00:00:00Z') };
    expect(await debitPoints(db, { ...request, adjustmentId: 'a-2', points: -45 })).toMatchObject({
      outcome: 'debited',
      balance: 5,
      duplicate: false,
    });
    expect(await debitPoints(db, { ...request, adjustmentId: 'a-2', points: -45 })).toMatchObject({
      outcome: 'debited',
      balance: 5,
      duplicate: true,
    });
    expect(await debitPoints(db, { ...request, adjustmentId: 'a-2', points: -44 })).toEqual({ outcome: 'conflict' });
    // the id of a credit is taken too
    expect(await debitPoints(db, { ...request, adjustmentId: 'a-1', points: -5 })).toEqual({ outcome: 'conflict' });
    expect(await debitPoints(db, { ...request, adjustmentId: 'a-3', points: -6 })).toEqual({
      outcome: 'insufficient',
      balance: 5,
    });
    expect(await debitPoints(db, { ...request, customerId: 'nobody', adjustmentId: 'a-4', points: -5 })).toEqual({
      outcome: 'unknown_customer',
    });
    expect(await findAdjustment(db, 'gus', 'a-2')).toMatchObject({ kind: 'debit', points: -45 });
    expect(await findAdjustment(db, 'gus', 'a-1')).toMatchObject({ kind: 'credit', lot: { points: 20 } });
    // ids that hold the key's separator do not collide
    expect(adjustmentKey('a:b', 'c')).not.toBe(adjustmentKey('a', 'b:c'));
  });

  it('given a credit retried with its key, then one lot and one entry exist', async () => {
    await credit('hal', 2000, '2026-09-01T00:00:00Z', 'referral:hal-1');
    const again = await credit('hal', 2000, '2026-09-01T00:00:00Z', 'referral:hal-1');
    expect(again.created).toBe(false);
    expect(await findLedgerEntries(db, 'hal')).toHaveLength(1);
  });

  it('given a balance changed behind the ledger, when the ledger is checked, then the customer is named', async () => {
    await credit('ivy', 10, '2026-09-01T00:00:00Z', 'ivy-1');
    await db.updateTable('customers').set({ points_balance: 11 }).where('id', '=', 'ivy').execute();
    expect(await checkLedger(db)).toEqual([
      { rule: 'balance = sum of ledger', subject: 'customer ivy', detail: 'balance 11, ledger 10' },
    ]);
    const failing = ledgerCheck();
    expect(failing.status).toBe(1);
    expect(failing.stdout).toContain('balance = sum of ledger: customer ivy (balance 11, ledger 10)');
    await db.updateTable('customers').set({ points_balance: 10 }).where('id', '=', 'ivy').execute();
    const passing = ledgerCheck();
    expect(passing.status).toBe(0);
    expect(passing.stdout).toContain('every invariant holds');
  });

  it.each([
    ['the customer', { withEntries: undefined }],
    ['the admin', { withEntries: true as const }],
  ])(
    "given a lot that expires while %s reads its customer's points, when read, then the balance, the lots and the entries are of one moment",
    async (_, { withEntries }) => {
      const customerId = `ike-${withEntries ? 'admin' : 'own'}`;
      const { lot } = await credit(customerId, 100, '2026-06-01T00:00:00Z', `${customerId}-lot`);
      // the expiry commits as soon as the read's first statement (the balance) has its answer
      let expired: Promise<unknown> | undefined;
      const reader = db.withPlugin({
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          if (!expired && args.result.rows.some((row) => 'points_balance' in row)) {
            expired = expireLot(db, lot.id, at('2026-06-01T00:00:00Z'));
            await expired;
          }
          return args.result;
        },
      });
      let read: { balance: number; lots: Array<{ expired_at: Date | null }> } | undefined;
      if (withEntries) {
        const withTheirEntries = await findCustomerPoints(reader, customerId, { withEntries });
        // the entries add up to the balance read beside them
        expect(withTheirEntries!.entries.reduce((sum, e) => sum + Number(e.points), 0)).toBe(withTheirEntries!.balance);
        read = withTheirEntries;
      } else read = await findCustomerPoints(reader, customerId);
      expect(expired).toBeDefined();
      expect(read!.balance).toBe(read!.lots[0]!.expired_at === null ? 100 : 0);
      expect(await findCustomerPoints(db, customerId)).toMatchObject({ balance: 0 });
    },
  );
});
