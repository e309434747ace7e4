import { describe, expect, it } from 'vitest';
import { addSpend, applyOrderEvent, assessQualification, type OrderBook } from '../../workflows/order-book';
import type { OrderFacts } from '../../workflows/shared';

const WINDOW = {
  currency: 'INR',
  fromMs: Date.parse('2026-11-01T00:00:00Z'),
  toMs: Date.parse('2026-12-01T00:00:00Z'),
  minOrders: 1,
  minSpend: 50_000,
};

function bookOf(count: number, amount: number): OrderBook {
  const book: OrderBook = new Map();
  for (let i = 0; i < count; i++) {
    const order: OrderFacts = {
      eventId: `e-${i}`,
      orderId: `o-${i}`,
      status: 'completed',
      amount,
      currency: 'INR',
      occurredAt: new Date(WINDOW.fromMs + i * 1000).toISOString(),
    };
    applyOrderEvent(book, order);
  }
  return book;
}

describe('order book spend', () => {
  it('given three orders at the largest accepted amount (1e12), when counted, then the spend is their exact sum', () => {
    const q = assessQualification(bookOf(3, 1e12), WINDOW);
    expect(q).toMatchObject({ countedOrders: 3, countedSpend: 3e12 });
    expect(Number.isSafeInteger(q.countedSpend)).toBe(true);
  });

  it('given many orders whose sum passes 2^53, when counted, then the spend saturates at Number.MAX_SAFE_INTEGER and every order still counts', () => {
    // 9008 orders of 1e12 sum to 9.008e15 > 2^53 (about 9.007e15)
    const q = assessQualification(bookOf(9008, 1e12), WINDOW);
    expect(q.countedOrders).toBe(9008);
    expect(q.countedSpend).toBe(Number.MAX_SAFE_INTEGER);
    expect(q.qualifiedAtMs).toBe(WINDOW.fromMs);
  });

  it('given a sum just below the limit, when one more unit is added, then it is exact, and beyond it stays at the limit', () => {
    expect(addSpend(Number.MAX_SAFE_INTEGER - 1, 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(addSpend(Number.MAX_SAFE_INTEGER, 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(addSpend(Number.MAX_SAFE_INTEGER - 10, 1e12)).toBe(Number.MAX_SAFE_INTEGER);
    expect(addSpend(2 ** 52, 3)).toBe(2 ** 52 + 3);
  });
});
