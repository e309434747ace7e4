/**
 * Reference model of a referee's order book (DESIGN §4 "Orders"): whatever order and however many times the order
 * events arrive, each order stands in the status of its latest event by business time. Two events of one order at the
 * same millisecond are ordered by the stage of an order's life they report: placed, completed, cancelled, refunded.
 *
 * A second, deliberately simple implementation: it keeps every event and picks each order's latest at the end, so
 * delivery order cannot matter by construction. Its input is the facts an order event carries (as POSTed), its
 * output one record per order.
 *
 *   latestOrders(events) -> Map<orderId, ModelOrder>
 *   instantMs(rfc3339) -> epoch ms (fraction of a millisecond dropped)
 */

export type ModelOrderStatus = 'placed' | 'completed' | 'cancelled' | 'refunded';

export interface ModelOrderEvent {
  orderId: string;
  status: ModelOrderStatus;
  /** integer minor units */
  amount: number;
  currency: string;
  /** RFC 3339 business time; compared at millisecond precision */
  occurredAt: string;
}

export interface ModelOrder {
  orderId: string;
  status: ModelOrderStatus;
  amount: number;
  currency: string;
  occurredAtMs: number;
}

const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** An RFC 3339 instant (as the API accepts it: `T` and `Z` in either case, `Z` or an offset) in epoch milliseconds. */
export function instantMs(text: string): number {
  const m = RFC_3339.exec(text);
  if (!m) throw new RangeError(`not an RFC 3339 instant: ${text}`);
  const [, year, month, day, hour, minute, second, fraction = '', , sign, offsetHours, offsetMinutes] = m;
  const local = new Date(0);
  local.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  local.setUTCHours(Number(hour), Number(minute), Number(second), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offsetMs = sign ? (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000 : 0;
  return local.getTime() - offsetMs;
}

const LIFE_STAGE: readonly ModelOrderStatus[] = ['placed', 'completed', 'cancelled', 'refunded'];

/** Whether `a` reports a later moment of its order than `b`. */
export function isLaterEvent(a: ModelOrder, b: ModelOrder): boolean {
  if (a.occurredAtMs !== b.occurredAtMs) return a.occurredAtMs > b.occurredAtMs;
  return LIFE_STAGE.indexOf(a.status) > LIFE_STAGE.indexOf(b.status);
}

/**
 * Each order in its latest status. Two events of one order at the same instant and stage but with different amounts
 * are a contradiction the rules do not settle; the first one given is kept.
 */
export function latestOrders(events: Iterable<ModelOrderEvent>): Map<string, ModelOrder> {
  const book = new Map<string, ModelOrder>();
  for (const event of events) {
    const candidate: ModelOrder = {
      orderId: event.orderId,
      status: event.status,
      amount: event.amount,
      currency: event.currency,
      occurredAtMs: instantMs(event.occurredAt),
    };
    const held = book.get(event.orderId);
    if (!held || isLaterEvent(candidate, held)) book.set(event.orderId, candidate);
  }
  return book;
}
