import type { ModelOrder } from './order-book';

/**
 * Reference model of qualification (DESIGN §3, §4): the orders that count are the completed ones in the programme
 * currency whose completion lies inside the window, both ends included. The referral qualifies at the first of them,
 * in business time, by which at least `minOrders` have completed and their spend reaches `minSpend`.
 *
 * Spend is summed exactly (bigint) and then capped at Number.MAX_SAFE_INTEGER: the product saturates there, which is
 * "at least this much" and meets any minimum a programme can set (at most 10^12).
 *
 *   qualify(orders, rule) -> { countedOrderIds, countedOrders, countedSpend, qualifiedAtMs }
 */

export interface ModelQualificationRule {
  currency: string;
  /** the window, epoch ms, both ends included */
  fromMs: number;
  toMs: number;
  minOrders: number;
  minSpend: number;
}

export interface ModelQualification {
  /** by completion time; orders completed at the same millisecond in no promised order */
  countedOrderIds: string[];
  countedOrders: number;
  countedSpend: number;
  /** the business instant the criteria were first met, or null */
  qualifiedAtMs: number | null;
}

const SPEND_CAP = BigInt(Number.MAX_SAFE_INTEGER);

export const cappedSpend = (amounts: readonly number[]): number => {
  const total = amounts.reduce((sum, amount) => sum + BigInt(amount), 0n);
  return Number(total < SPEND_CAP ? total : SPEND_CAP);
};

export function qualify(orders: Iterable<ModelOrder>, rule: ModelQualificationRule): ModelQualification {
  const counted = [...orders].filter(
    (o) =>
      o.status === 'completed' &&
      o.currency === rule.currency &&
      rule.fromMs <= o.occurredAtMs &&
      o.occurredAtMs <= rule.toMs,
  );
  counted.sort((a, b) => a.occurredAtMs - b.occurredAtMs);

  // The criteria only grow with more orders, so the first instant they hold is the earliest completion time at which
  // everything completed up to and including that millisecond meets them.
  let qualifiedAtMs: number | null = null;
  for (const candidate of new Set(counted.map((o) => o.occurredAtMs))) {
    const upTo = counted.filter((o) => o.occurredAtMs <= candidate);
    if (upTo.length >= rule.minOrders && cappedSpend(upTo.map((o) => o.amount)) >= rule.minSpend) {
      qualifiedAtMs = candidate;
      break;
    }
  }
  return {
    countedOrderIds: counted.map((o) => o.orderId),
    countedOrders: counted.length,
    countedSpend: cappedSpend(counted.map((o) => o.amount)),
    qualifiedAtMs,
  };
}
