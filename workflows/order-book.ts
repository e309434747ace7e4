import type { CountedOrder, OrderFacts, OrderRecord, OrderStatus } from './shared';

/**
 * The referee's orders as the qualification rules see them: one record per orderId, in its latest status by
 * business time, whatever order or number of events reported it. Pure, so the workflow and tests share it.
 */

// When two events for one order carry the same instant, the later stage of an order's life wins.
const STATUS_RANK: Record<OrderStatus, number> = { placed: 0, completed: 1, cancelled: 2, refunded: 3 };

export type OrderBook = Map<string, OrderRecord>;

/** Applies an order event; returns whether the order's latest status changed. */
export function applyOrderEvent(book: OrderBook, event: OrderFacts): boolean {
  const occurredAtMs = Date.parse(event.occurredAt);
  const current = book.get(event.orderId);
  if (current) {
    const newer =
      occurredAtMs > current.occurredAtMs ||
      (occurredAtMs === current.occurredAtMs && STATUS_RANK[event.status] > STATUS_RANK[current.status]);
    if (!newer) return false;
  }
  book.set(event.orderId, {
    orderId: event.orderId,
    status: event.status,
    amount: event.amount,
    currency: event.currency,
    occurredAtMs,
  });
  return true;
}

/**
 * Spend sums an unbounded number of orders, each capped at the edge: past Number.MAX_SAFE_INTEGER a float sum stops
 * being exact, so it saturates there instead. Below it the sum is exact; at it the spend is "at least this much",
 * which still meets any minimum a programme can set, and the projection's bigint column and JSON readers stay exact.
 */
export const addSpend = (spend: number, amount: number): number => Math.min(Number.MAX_SAFE_INTEGER, spend + amount);

export interface QualificationRule {
  currency: string;
  /** inclusive window, epoch ms */
  fromMs: number;
  toMs: number;
  minOrders: number;
  minSpend: number;
}

export interface Qualification {
  counted: CountedOrder[];
  countedOrders: number;
  countedSpend: number;
  /** business instant the criteria were first met by the counted orders, if they are */
  qualifiedAtMs: number | null;
}

/** Completed orders in the programme currency whose completion lies inside the window, both ends included. */
export function assessQualification(book: OrderBook, rule: QualificationRule): Qualification {
  const eligible = [...book.values()]
    .filter(
      (order) =>
        order.status === 'completed' &&
        order.currency === rule.currency &&
        order.occurredAtMs >= rule.fromMs &&
        order.occurredAtMs <= rule.toMs,
    )
    .sort((a, b) => a.occurredAtMs - b.occurredAtMs || a.orderId.localeCompare(b.orderId));

  let countedOrders = 0;
  let countedSpend = 0;
  let qualifiedAtMs: number | null = null;
  for (const order of eligible) {
    countedOrders += 1;
    countedSpend = addSpend(countedSpend, order.amount);
    if (qualifiedAtMs === null && countedOrders >= rule.minOrders && countedSpend >= rule.minSpend) {
      qualifiedAtMs = order.occurredAtMs;
    }
  }
  return {
    counted: eligible.map((o) => ({
      orderId: o.orderId,
      amount: o.amount,
      occurredAt: new Date(o.occurredAtMs).toISOString(),
    })),
    countedOrders,
    countedSpend,
    qualifiedAtMs,
  };
}
