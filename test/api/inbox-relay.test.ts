import type { Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInboxRelay } from '../../api/inbox-relay';
import type { DB } from '../../db/connection';
import { acceptEvent } from '../../db/inbox';
import { TASK_QUEUE } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(() => drop());

describe('inbox relay', () => {
  it('given Temporal answering slowly, when rounds are due faster than they finish, then they never overlap and a down Temporal ends the round early', async () => {
    await db.insertInto('customers').values({ id: 'pat', email_normalized: null, phone_normalized: null, referred_by_referral_id: '00000000-0000-4000-8000-000000000001' }).execute();
    for (const eventId of ['o-1', 'o-2', 'o-3']) {
      const payload = { eventId, customerId: 'pat', orderId: eventId, status: 'completed', amount: 100, currency: 'INR', occurredAt: new Date().toISOString() };
      await acceptEvent(db, { kind: 'order', eventId, customerId: 'pat', orderId: eventId, payload });
    }
    let calls = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const slowAndDown = {
      withDeadline: async () => {
        calls += 1;
        concurrent += 1;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((resolve) => setTimeout(resolve, 150));
        concurrent -= 1;
        throw new Error('14 UNAVAILABLE: connection refused');
      },
    } as unknown as Client;
    const relay = startInboxRelay(
      { db, temporal: slowAndDown, clock: () => new Date(Date.now() + 60_000), apiKeys: [], logger: pino({ level: 'silent' }), taskQueue: TASK_QUEUE },
      { intervalMs: 10, olderThanMs: 0 },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await relay.stop();
    expect(maxConcurrent).toBe(1);
    // one event tried per round (the round stops at the first unreachable Temporal), rounds back to back
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(4);
    const states = await db.selectFrom('inbox_events').select(['state', 'attempts']).orderBy('event_id').execute();
    expect(states.map((s) => s.state)).toEqual(['received', 'received', 'received']);
    expect(states[0]!.attempts).toBe(calls);
  });
});
