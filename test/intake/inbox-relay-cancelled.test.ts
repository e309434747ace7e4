import type { Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { acceptEvent } from '../../db/inbox';
import type { IntakeDependencies } from '../../intake/deps';
import { relayUndeliveredEvents } from '../../intake/inbox-relay';
import { TASK_QUEUE } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * A call the server reset at its deadline (grpc-js reports CANCELLED, not DEADLINE_EXCEEDED) is the relay's deadline
 * too: an outage uses up no event's attempts. Real PostgreSQL for the inbox, a fake Temporal client.
 */
let db: DB;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
});
afterAll(() => drop());
beforeEach(async () => {
  await db.deleteFrom('inbox_events').execute();
  await db.deleteFrom('customers').execute();
});

const REFERRAL = '00000000-0000-4000-8000-000000000001';
// as seen in the chaos run: "1 CANCELLED: Call cancelled", wrapped as the Temporal client wraps it
const cancelled = () =>
  new Error('Failed to signal', {
    cause: Object.assign(new Error('1 CANCELLED: Call cancelled'), {
      code: 1,
      details: 'Call cancelled',
      metadata: {},
    }),
  });

function fakeTemporal(signal: () => Promise<void>, pollers: number): Client {
  return {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    options: { namespace: 'default' },
    workflowService: { describeTaskQueue: async () => ({ pollers: Array.from({ length: pollers }, () => ({})) }) },
    workflow: { getHandle: () => ({ signal }) },
  } as unknown as Client;
}

const deps = (temporal: Client, now: number): IntakeDependencies => ({
  db,
  temporal,
  clock: () => new Date(now),
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});

async function acceptOrder(customerId: string, eventId: string): Promise<void> {
  await db
    .insertInto('customers')
    .values({ id: customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: REFERRAL })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const payload = {
    eventId,
    customerId,
    orderId: eventId,
    status: 'completed',
    amount: 100,
    currency: 'INR',
    occurredAt: new Date().toISOString(),
  };
  await acceptEvent(db, { kind: 'order', eventId, customerId, orderId: eventId, payload });
}

const inbox = () => db.selectFrom('inbox_events').selectAll().orderBy('event_id').execute();

describe('inbox relay, a call cancelled at its deadline', () => {
  it('given no worker polling, when every attempt is cancelled, then the event waits without using up its attempts and is not set aside', async () => {
    await acceptOrder('pat', 'o-cancelled');
    let now = Date.now() + 60_000;
    for (let round = 0; round < 3; round += 1) {
      await relayUndeliveredEvents(
        deps(
          fakeTemporal(async () => Promise.reject(cancelled()), 0),
          now,
        ),
        {
          olderThanMs: 0,
          maxAttempts: 1,
        },
      );
      now += 60 * 60_000;
    }
    expect((await inbox())[0]).toMatchObject({
      state: 'received',
      attempts: 0,
      last_error: 'Temporal or its workers unavailable',
    });
  });

  it('given workers polling, when the attempt is cancelled, then it counts against the event, as a deadline does', async () => {
    await acceptOrder('pat', 'o-slow');
    await relayUndeliveredEvents(
      deps(
        fakeTemporal(async () => Promise.reject(cancelled()), 1),
        Date.now() + 60_000,
      ),
      {
        olderThanMs: 0,
      },
    );
    expect((await inbox())[0]).toMatchObject({ state: 'received', attempts: 1 });
  });
});
