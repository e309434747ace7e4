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
 * Every status each order went through, as reported, whatever order they arrived in: what the book said at any
 * business instant. A completion that arrives after its own later refund still counted from its instant until then.
 */
export type OrderHistory = Map<string, OrderRecord[]>;

/** Adds an order event to its order's history; returns whether it was new (a redelivery or same-instant twin is not). */
export function recordOrderEvent(history: OrderHistory, event: OrderFacts): boolean {
  const occurredAtMs = Date.parse(event.occurredAt);
  const past = history.get(event.orderId) ?? [];
  if (past.some((r) => r.occurredAtMs === occurredAtMs && r.status === event.status)) return false;
  history.set(event.orderId, [
    ...past,
    {
      orderId: event.orderId,
      status: event.status,
      amount: event.amount,
      currency: event.currency,
      occurredAtMs,
      ...(event.reportedAt ? { reportedAtMs: Date.parse(event.reportedAt) } : {}),
    },
  ]);
  return true;
}

export function historyOf(records: Iterable<OrderRecord>): OrderHistory {
  const history: OrderHistory = new Map();
  for (const r of records) history.set(r.orderId, [...(history.get(r.orderId) ?? []), r]);
  return history;
}

/**
 * The book as it stood at `cutoffMs` in business time: each order in its latest status dated no later. With
 * `removalsReportedByMs`, refunds and cancels reported after that instant are left out (reported after the grace of
 * the hold they would have changed).
 */
export function bookAsOf(history: OrderHistory, cutoffMs: number, removalsReportedByMs = Infinity): OrderBook {
  const book: OrderBook = new Map();
  for (const [orderId, records] of history) {
    let latest: OrderRecord | undefined;
    for (const r of records) {
      if (r.occurredAtMs > cutoffMs) continue;
      if (isRemoval(r) && (r.reportedAtMs ?? -Infinity) > removalsReportedByMs) continue;
      if (
        !latest ||
        r.occurredAtMs > latest.occurredAtMs ||
        (r.occurredAtMs === latest.occurredAtMs && STATUS_RANK[r.status] > STATUS_RANK[latest.status])
      )
        latest = r;
    }
    if (latest) book.set(orderId, latest);
  }
  return book;
}

const isRemoval = (r: OrderRecord): boolean => r.status === 'refunded' || r.status === 'cancelled';

/** Whether some order was refunded or cancelled after it completed: only then can history and latest status differ. */
function someCompletionTakenBack(history: OrderHistory): boolean {
  for (const records of history.values()) {
    const completed = records.filter((r) => r.status === 'completed').map((r) => r.occurredAtMs);
    if (completed.length === 0) continue;
    const first = Math.min(...completed);
    if (records.some((r) => isRemoval(r) && r.occurredAtMs >= first)) return true;
  }
  return false;
}

/**
 * Qualification judged in business time, as a referral living through the events in the order they happened would
 * have been judged: it qualifies at the first instant its counted orders met the criteria and kept meeting them
 * through the reward hold after it (`holdEndMs`), counting a refund or cancel dated inside the hold and reported
 * before the hold's grace ended (`decidedMs`). A refund dated after the hold does not take back a reward it earned,
 * whichever arrived first.
 */
export function assessHeldQualification(
  history: OrderHistory,
  rule: QualificationRule,
  holdEndMs: (qualifiedAtMs: number) => number,
  decidedMs: (deadlineMs: number) => number,
): Qualification {
  const latest = assessQualification(bookAsOf(history, Infinity), rule);
  if (!someCompletionTakenBack(history)) return latest;
  const instants = [
    ...new Set(
      [...history.values()]
        .flat()
        .filter((r) => r.status === 'completed' && r.occurredAtMs >= rule.fromMs && r.occurredAtMs <= rule.toMs)
        .map((r) => r.occurredAtMs),
    ),
  ].sort((a, b) => a - b);
  for (const instant of instants) {
    let qualifiedAtMs = assessQualification(bookAsOf(history, instant), rule).qualifiedAtMs;
    // each step moves the candidate later or drops it, so this ends
    while (qualifiedAtMs !== null) {
      const holdEnd = holdEndMs(qualifiedAtMs);
      const held = assessQualification(bookAsOf(history, holdEnd, decidedMs(holdEnd)), rule);
      if (held.qualifiedAtMs === qualifiedAtMs) return held;
      qualifiedAtMs = held.qualifiedAtMs !== null && held.qualifiedAtMs > qualifiedAtMs ? held.qualifiedAtMs : null;
    }
  }
  return { ...latest, qualifiedAtMs: null };
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
