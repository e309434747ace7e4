import fc from 'fast-check';
import type { OrderFacts, OrderStatus } from '../../workflows/shared';

/** Generators the property files share. */

export const ORDER_STATUSES: readonly OrderStatus[] = ['placed', 'completed', 'cancelled', 'refunded'];
// Mixed case and digits: ids that sort differently by code unit and by locale.
export const ORDER_IDS = ['o1', 'o2', 'O3', 'a4', 'B5', 'b6'] as const;
export const CURRENCIES = ['INR', 'USD'] as const;
export const BASE_MS = Date.parse('2026-11-01T00:00:00Z');

/** Minor units: mostly what the API takes (0 to 10^12), sometimes up to and past Number.MAX_SAFE_INTEGER. */
export const amountArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 1_000_000_000_000 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER - 1,
      2 ** 53,
      2 ** 53 + 2,
      2 ** 60,
      Number.MAX_SAFE_INTEGER - 1_000_000_000_000,
    ),
  },
  { weight: 1, arbitrary: fc.maxSafeNat() },
);

/** The same instant written the ways RFC 3339 allows: `Z`, lower case, an offset, more fraction digits. */
export const spellingOf = (ms: number, spelling: number): string => {
  const iso = new Date(ms).toISOString();
  switch (spelling % 4) {
    case 0:
      return iso;
    case 1:
      return iso.replace('T', 't').replace('Z', 'z');
    case 2: {
      const shifted = new Date(ms + (5 * 60 + 30) * 60_000).toISOString();
      return `${shifted.slice(0, -1)}+05:30`;
    }
    default:
      return `${iso.slice(0, -1)}999Z`;
  }
};

export interface OrderFact {
  orderId: string;
  status: OrderStatus;
  /** seconds after BASE_MS: a few distinct instants, so events of one order often share one */
  second: number;
  amount: number;
  currency: string;
}

/**
 * Distinct facts: at most one event per (order, status, instant), since two events saying different things about the
 * same moment of an order are a contradiction no delivery order can settle.
 */
export const factsArb = (maxLength = 16) =>
  fc.uniqueArray(
    fc.record({
      orderId: fc.constantFrom(...ORDER_IDS),
      status: fc.constantFrom(...ORDER_STATUSES),
      second: fc.integer({ min: 0, max: 6 }),
      amount: amountArb,
      currency: fc.constantFrom(...CURRENCIES),
    }),
    { selector: (f) => `${f.orderId}|${f.status}|${f.second}`, maxLength },
  );

export const eventOf = (fact: OrderFact, index: number, spelling = 0): OrderFacts => ({
  eventId: `e-${index}`,
  orderId: fact.orderId,
  status: fact.status,
  amount: fact.amount,
  currency: fact.currency,
  occurredAt: spellingOf(BASE_MS + fact.second * 1000, spelling),
});

/** A delivery of the facts: every one at least once, some again, in any order, each in some spelling. */
export const deliveryArb = (facts: OrderFact[]) =>
  fc
    .tuple(
      fc.array(fc.nat({ max: Math.max(0, facts.length - 1) }), { maxLength: facts.length === 0 ? 0 : 8 }),
      fc.array(fc.nat({ max: 3 }), { minLength: facts.length + 8, maxLength: facts.length + 8 }),
    )
    .chain(([again, spellings]) => {
      const indexes = [...facts.map((_, i) => i), ...again];
      return fc
        .shuffledSubarray(indexes, { minLength: indexes.length, maxLength: indexes.length })
        .map((order) => order.map((i, position) => eventOf(facts[i]!, i, spellings[position] ?? 0)));
    });
