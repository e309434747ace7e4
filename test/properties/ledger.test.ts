import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_POINTS } from '../../api/points';
import type { DB } from '../../db/connection';
import {
  adjustmentKey,
  checkLedger,
  creditLot,
  debitPoints,
  expireLot,
  findBalance,
  findCustomerPoints,
  findLedgerEntries,
  redeemPoints,
  reverseRedemption,
} from '../../db/ledger';
import { adjustmentCreditKey, LotsModel } from '../../scripts/chaos/model/lots';
import { creditedPoints } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';
import { assertAsyncProperty, timeoutFor } from './settings';

let db: DB;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(async () => {
  await drop();
});

const HOUR_MS = 3_600_000;
const START_MS = Date.parse('2026-03-01T00:00:00Z');
// Ids holding LIKE's wildcards, its escape and the key separator: one adjustment's key must never find another's.
const ADJUSTMENT_IDS = ['a', 'a_', 'ab', 'a%', 'a%b', 'a:b', 'a\\', 'a\\b'] as const;

type Credit = { t: 'credit'; key: number; points: number; expiresInH: number; adjustment: boolean };
type Concurrent =
  | Credit
  | { t: 'redeem'; rid: number; points: number }
  | { t: 'reverse'; rid: number }
  | { t: 'debit'; aid: number; points: number }
  | { t: 'expire'; lot: number };
type Command = Concurrent | { t: 'tick'; minutes: number } | { t: 'together'; commands: Concurrent[] };

const pointsArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_POINTS }) },
);
const redeemArb = fc.record({ t: fc.constant('redeem' as const), rid: fc.nat({ max: 4 }), points: pointsArb });
const reverseArb = fc.record({ t: fc.constant('reverse' as const), rid: fc.nat({ max: 5 }) });
const debitArb = fc.record({
  t: fc.constant('debit' as const),
  aid: fc.nat({ max: ADJUSTMENT_IDS.length - 1 }),
  points: pointsArb.map((p) => -p),
});
const expireArb = fc.record({ t: fc.constant('expire' as const), lot: fc.nat({ max: 7 }) });
const creditArb = fc.record({
  t: fc.constant('credit' as const),
  key: fc.nat({ max: 6 }),
  points: pointsArb,
  // few distinct lengths: lots often expire at the same instant, and then credit time and lot id decide
  expiresInH: fc.constantFrom(1, 2, 2, 3, 5),
  adjustment: fc.boolean(),
});
const concurrentArb: fc.Arbitrary<Concurrent> = fc.oneof(
  { weight: 1, arbitrary: creditArb },
  { weight: 3, arbitrary: redeemArb },
  { weight: 2, arbitrary: reverseArb },
  { weight: 1, arbitrary: debitArb },
  { weight: 1, arbitrary: expireArb },
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: creditArb },
  { weight: 6, arbitrary: concurrentArb },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('tick' as const), minutes: fc.nat({ max: 180 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('together' as const),
      commands: fc.array(concurrentArb, { minLength: 2, maxLength: 3 }),
    }),
  },
);

let customers = 0;

/** One customer's run of ledger calls, made on PostgreSQL and on the model side by side. */
class Run {
  readonly customerId = `c${(customers += 1)}_%\\`;
  readonly model = new LotsModel();
  nowMs = START_MS;
  /** the customer's lots in credit order, as ids the ledger gave */
  readonly lotIds: string[] = [];

  creditKey(command: Credit): string {
    return command.adjustment
      ? adjustmentCreditKey(this.customerId, ADJUSTMENT_IDS[command.key % ADJUSTMENT_IDS.length]!)
      : `referral:${this.customerId}:${command.key}`;
  }

  /** The ledger's answer, in the model's shape. */
  async onLedger(command: Concurrent): Promise<unknown> {
    const customerId = this.customerId;
    const now = new Date(this.nowMs);
    switch (command.t) {
      case 'credit': {
        const { lot, created } = await creditLot(db, {
          customerId,
          points: command.points,
          creditedAt: now,
          expiresAt: new Date(this.nowMs + command.expiresInH * HOUR_MS),
          source: { kind: command.adjustment ? 'adjustment' : 'referral' },
          creditKey: this.creditKey(command),
        });
        return { lotId: lot.id, created };
      }
      case 'redeem': {
        const r = await redeemPoints(db, { customerId, redemptionId: `r${command.rid}`, points: command.points, now });
        if (r.outcome === 'redeemed') {
          return { outcome: r.outcome, takenFrom: r.redemption.taken_from, balance: r.balance, duplicate: r.duplicate };
        }
        return r.outcome === 'conflict' ? { outcome: r.outcome } : r;
      }
      case 'reverse':
        return reverseRedemption(db, { customerId, redemptionId: `r${command.rid}`, now });
      case 'debit': {
        const adjustmentId = ADJUSTMENT_IDS[command.aid]!;
        const r = await debitPoints(db, {
          customerId,
          adjustmentId,
          points: command.points,
          reason: 'p',
          actor: 'p',
          now,
        });
        return r;
      }
      case 'expire': {
        const lotId = this.lotIds[command.lot % this.lotIds.length];
        return lotId === undefined ? { expired: 0 } : expireLot(db, lotId, now);
      }
    }
  }

  /** The model's answer; a credit takes the id the ledger gave its lot (`onLedger`'s answer). */
  onModel(model: LotsModel, command: Concurrent, onLedger: unknown): unknown {
    const customerId = this.customerId;
    const nowMs = this.nowMs;
    switch (command.t) {
      case 'credit':
        return model.credit({
          customerId,
          lotId: (onLedger as { lotId: string }).lotId,
          creditKey: this.creditKey(command),
          source: command.adjustment ? 'adjustment' : 'referral',
          points: command.points,
          creditedAtMs: nowMs,
          expiresAtMs: nowMs + command.expiresInH * HOUR_MS,
        });
      case 'redeem':
        return model.redeem({ customerId, redemptionId: `r${command.rid}`, points: command.points, nowMs });
      case 'reverse':
        return model.reverse({ customerId, redemptionId: `r${command.rid}`, nowMs });
      case 'debit':
        return model.debit({ customerId, adjustmentId: ADJUSTMENT_IDS[command.aid]!, points: command.points, nowMs });
      case 'expire': {
        const lotId = this.lotIds[command.lot % this.lotIds.length];
        return lotId === undefined ? { expired: 0 } : model.expire(lotId, nowMs);
      }
    }
  }

  /** A credit's new lot joins the lots that later expiries pick from. */
  noteLots(outcome: unknown): void {
    const credited = outcome as { lotId?: string; created?: boolean };
    if (credited.created && credited.lotId) this.lotIds.push(credited.lotId);
  }

  /** A lot's timer fires at its expiry, never before: the clock moves there first. */
  advanceForExpiry(command: Concurrent): void {
    if (command.t !== 'expire') return;
    const lotId = this.lotIds[command.lot % this.lotIds.length];
    const lot = lotId === undefined ? undefined : this.model.lotsOf(this.customerId).find((l) => l.lotId === lotId);
    if (lot) this.nowMs = Math.max(this.nowMs, lot.expiresAtMs);
  }

  async lots() {
    const points = await findCustomerPoints(db, this.customerId);
    return new Map(
      (points?.lots ?? []).map((l) => [
        l.id,
        { remaining: l.remaining, expired: l.expired_at !== null, points: l.points },
      ]),
    );
  }

  async entries() {
    return (await findLedgerEntries(db, this.customerId)).map((e) => ({
      customerId: e.customer_id,
      lotId: e.lot_id,
      kind: e.kind,
      points: e.points,
    }));
  }

  async one(command: Concurrent): Promise<void> {
    this.advanceForExpiry(command);
    const reversal = command.t === 'reverse';
    const before = reversal ? await this.lots() : undefined;
    const product = await this.onLedger(command);
    const expected = this.onModel(this.model, command, product);
    expect({ command, outcome: product }).toEqual({ command, outcome: expected });
    this.noteLots(product);
    if (before && product && (product as { duplicate?: boolean }).duplicate === false) {
      await this.expectRestored(command as Extract<Concurrent, { t: 'reverse' }>, before);
    }
  }

  /** A reversal gives each lot back exactly what was taken from it (nothing to a lot that expired meanwhile). */
  async expectRestored(command: Extract<Concurrent, { t: 'reverse' }>, before: Awaited<ReturnType<Run['lots']>>) {
    const after = await this.lots();
    const redemption = await db
      .selectFrom('point_redemptions')
      .select('taken_from')
      .where('customer_id', '=', this.customerId)
      .where('redemption_id', '=', `r${command.rid}`)
      .executeTakeFirstOrThrow();
    const given = new Map(redemption.taken_from.map((t) => [t.lotId, t.points]));
    for (const [lotId, lot] of after) {
      const back = lot.expired ? 0 : (given.get(lotId) ?? 0);
      expect({ lotId, remaining: lot.remaining }).toEqual({ lotId, remaining: before.get(lotId)!.remaining + back });
    }
  }

  /**
   * Calls made at once for one customer are served one after another under the customer's lock: the ledger must
   * answer and book as the model does in one of the orders they could have been served in.
   */
  async together(commands: Concurrent[]): Promise<void> {
    for (const command of commands) this.advanceForExpiry(command);
    const entriesBefore = (await this.entries()).length;
    const product = await Promise.all(commands.map((c) => this.onLedger(c)));
    const booked = (await this.entries()).slice(entriesBefore);
    const tried: unknown[] = [];
    for (const order of permutations(commands.map((_, i) => i))) {
      const model = this.model.clone();
      const outcomes: unknown[] = [];
      for (const i of order) outcomes[i] = this.onModel(model, commands[i]!, product[i]);
      const modelBooked = model.entriesOf(this.customerId).slice(entriesBefore);
      if (equal(outcomes, product) && equal(modelBooked, booked)) {
        Object.assign(this, { model });
        for (const i of order) this.noteLots(product[i]);
        return;
      }
      tried.push({ order, outcomes, modelBooked });
    }
    expect({ commands, product, booked }).toEqual({ commands, tried });
  }

  async expectSameState(): Promise<void> {
    const lots = await this.lots();
    const modelLots = new Map(
      this.model
        .lotsOf(this.customerId)
        .map((l) => [l.lotId, { remaining: l.remaining, expired: l.expired, points: l.points }]),
    );
    expect(lots).toEqual(modelLots);
    expect(await this.entries()).toEqual(this.model.entriesOf(this.customerId));
    const balance = await findBalance(db, this.customerId);
    expect(balance).toBe(this.model.balance(this.customerId));
    // model-free: the balance is what the lots hold, never below zero
    const held = [...lots.values()].reduce((sum, l) => sum + l.remaining, 0);
    expect(balance ?? 0).toBe(held);
    expect(balance ?? 0).toBeGreaterThanOrEqual(0);
  }
}

function* permutations(items: number[]): Generator<number[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i]!, ...tail];
  }
}

const equal = (a: unknown, b: unknown): boolean => {
  try {
    expect(a).toEqual(b);
    return true;
  } catch {
    return false;
  }
};

const RUNS = 20;

describe('points ledger against the reference model', () => {
  it(
    'given any sequence of credits, redemptions, reversals, admin debits, expiries and calls made at once, when run on PostgreSQL and on the model, then every answer, lot, entry and balance agrees, a reversal restores what it took, and the ledger check finds nothing',
    async () => {
      await assertAsyncProperty(
        fc.asyncProperty(fc.array(commandArb, { minLength: 1, maxLength: 16 }), async (commands) => {
          const run = new Run();
          for (const command of commands) {
            if (command.t === 'tick') run.nowMs += command.minutes * 60_000;
            else if (command.t === 'together') await run.together(command.commands);
            else await run.one(command);
          }
          await run.expectSameState();
          expect(await checkLedger(db)).toEqual([]);
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 1_500),
  );

  it('given an adjustment id, then the model forms the ledger’s key for it', () => {
    for (const id of ADJUSTMENT_IDS) expect(adjustmentCreditKey('c_%\\', id)).toBe(adjustmentKey('c_%\\', id));
  });
});

describe('referrer lots the ledger can hold', () => {
  // A programme's referrer points at its highest tier may pay at most MAX_POINTS (refused with 422 otherwise), and a
  // lot's points are a PostgreSQL integer: every credit a programme may make must fit it, the largest included.
  it(
    'given referrer points and a tier multiplier a programme may state, when the lot is credited, then the ledger takes it',
    async () => {
      await assertAsyncProperty(
        fc.asyncProperty(
          fc
            .integer({ min: 1, max: 10_000 })
            .chain((hundredths) =>
              fc.tuple(
                fc.oneof(
                  fc.integer({ min: 1, max: Math.floor((MAX_POINTS * 100) / hundredths) }),
                  fc.constant(Math.floor((MAX_POINTS * 100) / hundredths)),
                ),
                fc.constant(hundredths / 100),
              ),
            ),
          async ([points, multiplier]) => {
            const customerId = `c${(customers += 1)}`;
            const credited = creditedPoints(points, multiplier);
            const { lot, created } = await creditLot(db, {
              customerId,
              points: credited,
              creditedAt: new Date(START_MS),
              expiresAt: new Date(START_MS + HOUR_MS),
              source: { kind: 'referral' },
              creditKey: `tier:${customerId}`,
            });
            expect({ created, points: lot.points, remaining: lot.remaining }).toEqual({
              created: true,
              points: credited,
              remaining: credited,
            });
            expect(credited).toBeLessThanOrEqual(MAX_POINTS);
          },
        ),
        RUNS,
      );
    },
    timeoutFor(RUNS, 200),
  );
});
