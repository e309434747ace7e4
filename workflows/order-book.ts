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

/** Orders taken back within their holds, in one history, judged at most this often: a bound on the work per call. */
const MAX_HOLD_CHECKS = 64;

/**
 * Qualification judged in business time, as a referral living through the events in the order they happened would
 * have been judged: it qualifies at the first instant its counted orders met the criteria and still met them at the
 * end of the reward hold after it (`holdEndMs`), counting a refund or cancel dated inside the hold and reported
 * before the hold's grace ended (`decidedMs`). A refund dated after the hold does not take back a reward it earned,
 * whichever arrived first. One pass over the events in business time finds the instants the criteria were met; only
 * those are checked against their hold, and at most MAX_HOLD_CHECKS of them (each a pass over the orders).
 */
export function assessHeldQualification(
  history: OrderHistory,
  rule: QualificationRule,
  holdEndMs: (qualifiedAtMs: number) => number,
  decidedMs: (deadlineMs: number) => number,
): Qualification {
  const latest = assessQualification(bookAsOf(history, Infinity), rule);
  if (!someCompletionTakenBack(history)) return latest;
  const events = [...history.values()]
    .flat()
    .sort((a, b) => a.occurredAtMs - b.occurredAtMs || STATUS_RANK[a.status] - STATUS_RANK[b.status]);
  // each order's counted amount as the events stood at the instant reached
  const counted = new Map<string, number>();
  let spend = 0;
  let checks = 0;
  for (let i = 0; i < events.length;) {
    const at = events[i]!.occurredAtMs;
    for (; i < events.length && events[i]!.occurredAtMs === at; i++) {
      const event = events[i]!;
      const before = counted.get(event.orderId);
      if (before !== undefined) {
        spend -= before;
        counted.delete(event.orderId);
      }
      if (event.status === 'completed' && event.currency === rule.currency && at >= rule.fromMs && at <= rule.toMs) {
        counted.set(event.orderId, event.amount);
        spend += event.amount;
      }
    }
    if (at < rule.fromMs || at > rule.toMs || counted.size < rule.minOrders || spend < rule.minSpend) continue;
    if (++checks > MAX_HOLD_CHECKS) break;
    const holdEnd = holdEndMs(at);
    const held = assessQualification(bookAsOf(history, holdEnd, decidedMs(holdEnd)), rule);
    if (held.qualifiedAtMs !== null && held.qualifiedAtMs <= at) return held;
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
