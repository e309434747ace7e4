import { describe, expect, it } from 'vitest';
import { assessHeldQualification, recordOrderEvent, type OrderHistory } from '../../workflows/order-book';
import type { OrderFacts, OrderStatus } from '../../workflows/shared';

const DAY = 24 * 60 * 60_000;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const WINDOW = { currency: 'INR', fromMs: T0, toMs: T0 + 30 * DAY, minOrders: 1, minSpend: 50_000 };
const HOLD = 7 * DAY;
const GRACE = 5 * 60_000;
const holdEnd = (ms: number) => ms + HOLD;
const decided = (ms: number) => ms + GRACE;

function event(orderId: string, status: OrderStatus, day: number, reportedDay = day): OrderFacts {
  return {
    eventId: `${orderId}-${status}-${day}`,
    orderId,
    status,
    amount: 60_000,
    currency: 'INR',
    occurredAt: new Date(T0 + day * DAY).toISOString(),
    reportedAt: new Date(T0 + reportedDay * DAY).toISOString(),
  };
}

function judge(events: OrderFacts[]) {
  const history: OrderHistory = new Map();
  for (const e of events) recordOrderEvent(history, e);
  return assessHeldQualification(history, WINDOW, holdEnd, decided);
}

describe('qualification over each order’s history', () => {
  it('given a completion and a refund dated after the hold, in either arrival order, then it qualified at the completion', () => {
    const completion = event('o-1', 'completed', 1);
    const refund = event('o-1', 'refunded', 9);
    expect(judge([completion, refund]).qualifiedAtMs).toBe(T0 + DAY);
    expect(judge([refund, completion]).qualifiedAtMs).toBe(T0 + DAY);
  });

  it('given a refund dated inside the hold, in either arrival order, then it does not qualify', () => {
    const completion = event('o-1', 'completed', 1);
    const refund = event('o-1', 'refunded', 3);
    expect(judge([completion, refund]).qualifiedAtMs).toBeNull();
    expect(judge([refund, completion]).qualifiedAtMs).toBeNull();
  });

  it('given a refund dated inside the hold but reported after its grace, then it changes nothing', () => {
    expect(judge([event('o-1', 'refunded', 3, 9), event('o-1', 'completed', 1)]).qualifiedAtMs).toBe(T0 + DAY);
  });

  it('given a first order refunded inside its hold and a second completed later, then it qualifies at the second', () => {
    const events = [event('o-1', 'completed', 1), event('o-1', 'refunded', 3), event('o-2', 'completed', 5)];
    expect(judge(events).qualifiedAtMs).toBe(T0 + 5 * DAY);
    expect(judge([...events].reverse()).qualifiedAtMs).toBe(T0 + 5 * DAY);
  });

  it('given a completion redelivered, then its history holds it once', () => {
    const history: OrderHistory = new Map();
    expect(recordOrderEvent(history, event('o-1', 'completed', 1))).toBe(true);
    expect(recordOrderEvent(history, event('o-1', 'completed', 1))).toBe(false);
    expect(history.get('o-1')).toHaveLength(1);
  });
});

describe('qualification over each order’s history, at its edges', () => {
  it('given a refund reported late that is dated before the qualifying instant, then the orders still qualify', () => {
    const rule = { ...WINDOW, minOrders: 2, minSpend: 0 };
    const hour = 60 * 60_000;
    const events = [
      event('a', 'completed', 1),
      event('a', 'refunded', 2, 10),
      event('b', 'completed', 3, 15),
      event('c', 'completed', 5, 16),
    ];
    const history: OrderHistory = new Map();
    for (const e of events) recordOrderEvent(history, e);
    const q = assessHeldQualification(
      history,
      rule,
      (ms) => ms + DAY,
      (ms) => ms + hour,
    );
    expect(q.qualifiedAtMs).not.toBeNull();
  });

  it('given 2,000 orders each completed and refunded inside its hold, then it is judged not qualified, with bounded work', () => {
    const events: OrderFacts[] = [];
    for (let i = 0; i < 2_000; i++) {
      const day = (i % 25) + i / 10_000;
      events.push(event(`o-${i}`, 'completed', day), event(`o-${i}`, 'refunded', day + 1));
    }
    expect(judge(events).qualifiedAtMs).toBeNull();
  });
});
