import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { latestOrders } from '../../scripts/chaos/model/order-book';
import { cappedSpend, qualify } from '../../scripts/chaos/model/qualification';
import {
  addSpend,
  applyOrderEvent,
  assessQualification,
  type OrderBook,
  type QualificationRule,
} from '../../workflows/order-book';
import type { OrderFacts } from '../../workflows/shared';
import { amountArb, BASE_MS, CURRENCIES, deliveryArb, eventOf, factsArb } from './arbitraries';
import { assertProperty, timeoutFor } from './settings';

const bookOf = (events: readonly OrderFacts[]): OrderBook => {
  const book: OrderBook = new Map();
  for (const event of events) applyOrderEvent(book, event);
  return book;
};

const sortedRecords = (book: OrderBook) => [...book.values()].sort((a, b) => a.orderId.localeCompare(b.orderId));

/** Windows whose ends fall on, between and around the instants the facts use, both ends included. */
const ruleArb: fc.Arbitrary<QualificationRule> = fc
  .record({
    from: fc.integer({ min: -1, max: 7 }),
    length: fc.integer({ min: 0, max: 8 }),
    currency: fc.constantFrom(...CURRENCIES),
    minOrders: fc.integer({ min: 1, max: 4 }),
    minSpend: fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 1_000_000_000_000 })),
  })
  .map(({ from, length, ...rest }) => ({
    ...rest,
    fromMs: BASE_MS + from * 1000,
    toMs: BASE_MS + (from + length) * 1000,
  }));

const RUNS = 300;
// A long run (PROPERTY_RUNS) gets the time it needs.
vi.setConfig({ testTimeout: timeoutFor(RUNS * 3, 10) });

describe('order book against the reference model', () => {
  it('given order events delivered in any order, some twice, in any RFC 3339 spelling, when applied one by one, then each order stands in the status of its latest event as the model says', () => {
    assertProperty(
      fc.property(
        factsArb().chain((facts) => deliveryArb(facts)),
        (delivery) => {
          const model = latestOrders(delivery);
          expect(sortedRecords(bookOf(delivery))).toEqual(
            [...model.values()].sort((a, b) => a.orderId.localeCompare(b.orderId)),
          );
        },
      ),
      RUNS,
    );
  });

  it('given the same events, when delivered in two different orders with different duplicates, then the books are equal', () => {
    assertProperty(
      fc.property(
        factsArb().chain((facts) => fc.tuple(deliveryArb(facts), deliveryArb(facts))),
        ([first, second]) => {
          expect(sortedRecords(bookOf(first))).toEqual(sortedRecords(bookOf(second)));
        },
      ),
      RUNS,
    );
  });

  it('given a book, when an event is applied, then it answers true exactly when its order record changed, and a repeat changes nothing', () => {
    assertProperty(
      fc.property(
        factsArb().chain((facts) => deliveryArb(facts)),
        (delivery) => {
          const book: OrderBook = new Map();
          for (const event of delivery) {
            const before = book.get(event.orderId);
            const changed = applyOrderEvent(book, event);
            expect(changed).toBe(JSON.stringify(before) !== JSON.stringify(book.get(event.orderId)));
            expect(applyOrderEvent(book, event)).toBe(false);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('qualification against the reference model', () => {
  it('given any book and window, when assessed, then the counted orders, the spend (exact, capped at MAX_SAFE_INTEGER) and the instant of qualification are the model’s', () => {
    assertProperty(
      fc.property(
        factsArb(24).chain((facts) => deliveryArb(facts)),
        ruleArb,
        (delivery, rule) => {
          const q = assessQualification(bookOf(delivery), rule);
          const m = qualify(latestOrders(delivery).values(), rule);
          expect({
            countedOrders: q.countedOrders,
            countedSpend: q.countedSpend,
            qualifiedAtMs: q.qualifiedAtMs,
            counted: q.counted.map((c) => c.orderId).sort(),
          }).toEqual({
            countedOrders: m.countedOrders,
            countedSpend: m.countedSpend,
            qualifiedAtMs: m.qualifiedAtMs,
            counted: [...m.countedOrderIds].sort(),
          });
          // by completion time; ties between orders completed at one millisecond carry no promise
          const times = q.counted.map((c) => Date.parse(c.occurredAt));
          expect(times).toEqual([...times].sort((a, b) => a - b));
          expect(Number.isSafeInteger(q.countedSpend)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('given a qualification, when one more completed order inside the window is added, then nothing counted goes down and it qualifies no later', () => {
    assertProperty(
      fc.property(
        factsArb(12).chain((facts) => deliveryArb(facts)),
        ruleArb,
        amountArb,
        fc.integer({ min: 0, max: 8 }),
        (delivery, rule, amount, offset) => {
          const at = Math.min(rule.toMs, rule.fromMs + offset * 1000);
          const book = bookOf(delivery);
          const before = assessQualification(book, rule);
          applyOrderEvent(book, {
            ...eventOf({ orderId: 'new', status: 'completed', second: 0, amount, currency: rule.currency }, 999),
            occurredAt: new Date(at).toISOString(),
          });
          const after = assessQualification(book, rule);
          expect(after.countedOrders).toBe(before.countedOrders + 1);
          expect(after.countedSpend).toBeGreaterThanOrEqual(before.countedSpend);
          if (before.qualifiedAtMs !== null) expect(after.qualifiedAtMs).not.toBeNull();
          if (before.qualifiedAtMs !== null) expect(after.qualifiedAtMs!).toBeLessThanOrEqual(before.qualifiedAtMs);
        },
      ),
      RUNS,
    );
  });

  it('given counted spends up to and past Number.MAX_SAFE_INTEGER, when added one by one, then the sum is exact below the limit and saturates at it', () => {
    assertProperty(
      fc.property(fc.array(amountArb, { maxLength: 12 }), (amounts) => {
        const spend = amounts.reduce((sum, amount) => addSpend(sum, amount), 0);
        expect(spend).toBe(cappedSpend(amounts));
      }),
      RUNS * 3,
    );
  });
});
