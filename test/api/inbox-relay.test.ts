import type { Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { acceptEvent } from '../../db/inbox';
import type { IntakeDependencies } from '../../intake/deps';
import { listFailedEvents, redeliverFailedEvent } from '../../intake/failed-events';
import { relayUndeliveredEvents, startInboxRelay } from '../../intake/inbox-relay';
import { TASK_QUEUE } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

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
// shaped as @grpc/grpc-js reports a server that cannot be reached, wrapped as the Temporal client wraps it
const unavailable = () =>
  new Error('Failed to signal', {
    cause: Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established',
      metadata: {},
    }),
  });

// as seen in a chaos run: the server reset the call at its deadline ("1 CANCELLED: Call cancelled")
const cancelled = () =>
  new Error('Failed to signal', {
    cause: Object.assign(new Error('1 CANCELLED: Call cancelled'), {
      code: 1,
      details: 'Call cancelled',
      metadata: {},
    }),
  });

/** A Temporal client whose order signals run `signal(workflowId, eventId)`, with `pollers` workers polling. */
function fakeTemporal(signal: (workflowId: string, eventId: string) => Promise<void>, pollers = 1): Client {
  return {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    options: { namespace: 'default' },
    workflowService: { describeTaskQueue: async () => ({ pollers: Array.from({ length: pollers }, () => ({})) }) },
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: (_def: unknown, facts: { eventId: string }) => signal(workflowId, facts.eventId),
      }),
    },
  } as unknown as Client;
}

const deps = (temporal: Client, clock = () => new Date(Date.now() + 60_000)): IntakeDependencies => ({
  db,
  temporal,
  clock,
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});

async function acceptOrders(customerId: string, eventIds: string[]): Promise<void> {
  await db
    .insertInto('customers')
    .values({ id: customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: REFERRAL })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  for (const eventId of eventIds) {
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
}

const inbox = () => db.selectFrom('inbox_events').selectAll().orderBy('event_id').execute();

describe('inbox relay', () => {
  it('given Temporal down and answering slowly, when rounds are due faster than they finish, then they never overlap and no event uses up its attempts', async () => {
    await acceptOrders('pat', ['o-1', 'o-2', 'o-3']);
    let calls = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const temporal = fakeTemporal(async () => {
      calls += 1;
      concurrent += 1;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((resolve) => setTimeout(resolve, 150));
      concurrent -= 1;
      throw unavailable();
    });
    const relay = startInboxRelay(deps(temporal), { intervalMs: 10, olderThanMs: 0, concurrency: 1 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    await relay.stop();
    expect(maxConcurrent).toBe(1);
    // every event tried once, one at a time; then each waits out its backoff instead of being hammered
    expect(calls).toBe(3);
    const events = await inbox();
    expect(events.map((e) => e.state)).toEqual(['received', 'received', 'received']);
    for (const event of events) {
      expect(event.next_attempt_at!.getTime()).toBeGreaterThan(Date.now() + 60_000);
      expect(event.last_error).toBe('Temporal or its workers unavailable');
      expect(event.attempts).toBe(0);
    }
  });

  it('given one event whose workflow never answers, when the relay runs, then the next event is delivered without waiting for it', async () => {
    await acceptOrders('poisoned', ['a-poison']);
    await acceptOrders('fine', ['b-fine']);
    const deliveredAt: Record<string, number> = {};
    const started = Date.now();
    const temporal = fakeTemporal(async (_workflowId, eventId) => {
      if (eventId === 'a-poison') {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        throw new Error('4 DEADLINE_EXCEEDED: the workflow did not answer');
      }
      deliveredAt[eventId] = Date.now() - started;
    });
    const delivered = await relayUndeliveredEvents(deps(temporal), { olderThanMs: 0 });
    expect(delivered).toBe(1);
    expect(deliveredAt['b-fine']).toBeLessThan(500);
    const [poison, fine] = await inbox();
    expect(fine!.state).toBe('delivered');
    expect(poison!.state).toBe('received');
    expect(poison!.attempts).toBe(1);
    expect(poison!.last_error).toContain('DEADLINE_EXCEEDED');
  });

  it('given an event that keeps failing, when it has used up its attempts, then it is set aside as failed, listed, and an admin can redeliver it', async () => {
    await acceptOrders('pat', ['o-broken']);
    let now = Date.now() + 60_000;
    let broken = true;
    const temporal = fakeTemporal(async () => {
      if (broken) throw new Error('the workflow task keeps failing');
    });
    const relayDeps = deps(temporal, () => new Date(now));
    for (let attempt = 1; attempt <= 3; attempt++) {
      await relayUndeliveredEvents(relayDeps, { olderThanMs: 0, maxAttempts: 3 });
      now += 60 * 60_000; // past any backoff
    }
    const [event] = await inbox();
    expect(event!.state).toBe('failed');
    expect(event!.attempts).toBe(3);
    // a failed event is not tried again by the relay
    expect(await relayUndeliveredEvents(relayDeps, { olderThanMs: 0 })).toBe(0);

    const listed = await listFailedEvents(relayDeps, { limit: 10 });
    expect(listed.items).toEqual([
      {
        eventId: 'o-broken',
        kind: 'order',
        reason: 'Error: the workflow task keeps failing',
        attempts: 3,
        lastAttemptAt: expect.any(String),
      },
    ]);
    expect(listed.nextCursor).toBeNull();

    broken = false;
    await redeliverFailedEvent(relayDeps, { eventId: 'o-broken', actor: 'ops' });
    expect(await relayUndeliveredEvents(relayDeps, { olderThanMs: 0 })).toBe(1);
    expect((await inbox())[0]!.state).toBe('delivered');
    await expect(redeliverFailedEvent(relayDeps, { eventId: 'o-broken', actor: 'ops' })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('given a workflow that does not answer in time, then the event uses an attempt, unless no worker polls at all (an outage: nobody is at fault)', async () => {
    await acceptOrders('pat', ['o-slow']);
    const deadline = () =>
      new Error('Failed to signal', {
        cause: Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), {
          code: 4,
          details: 'Deadline exceeded',
          metadata: {},
        }),
      });
    let now = Date.now() + 60_000;
    await relayUndeliveredEvents(
      deps(
        fakeTemporal(async () => Promise.reject(deadline()), 1),
        () => new Date(now),
      ),
      { olderThanMs: 0 },
    );
    expect((await inbox())[0]).toMatchObject({ state: 'received', attempts: 1 });
    now += 60 * 60_000;
    await relayUndeliveredEvents(
      deps(
        fakeTemporal(async () => Promise.reject(deadline()), 0),
        () => new Date(now),
      ),
      { olderThanMs: 0 },
    );
    expect((await inbox())[0]).toMatchObject({
      state: 'received',
      attempts: 1,
      last_error: 'Temporal or its workers unavailable',
    });
  });

  it('given a relay whose lease ran out and was taken over, when it settles late, then it changes nothing the new holder did', async () => {
    await acceptOrders('pat', ['o-taken-over']);
    let releaseFirst: () => void = () => {};
    let calls = 0;
    const temporal = fakeTemporal(async () => {
      calls += 1;
      if (calls === 1) {
        await new Promise<void>((resolve) => (releaseFirst = resolve));
        throw new Error('the first holder failed late');
      }
    });
    const first = relayUndeliveredEvents(deps(temporal), {
      olderThanMs: 0,
      leaseMs: 100,
      concurrency: 1,
      maxAttempts: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // the lease has run out: a second relay takes the event and delivers it
    expect(await relayUndeliveredEvents(deps(temporal), { olderThanMs: 0, concurrency: 1 })).toBe(1);
    releaseFirst();
    expect(await first).toBe(0);
    expect((await inbox())[0]).toMatchObject({ state: 'delivered', attempts: 2 });
  });

  it('given two relays (two API processes), when they run at the same time, then each event is delivered by exactly one of them', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `o-${String(i).padStart(2, '0')}`);
    await acceptOrders('pat', ids);
    const deliveries: string[] = [];
    const temporal = fakeTemporal(async (_workflowId, eventId) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      deliveries.push(eventId);
    });
    const [first, second] = await Promise.all([
      relayUndeliveredEvents(deps(temporal), { olderThanMs: 0, batchSize: 20, concurrency: 2 }),
      relayUndeliveredEvents(deps(temporal), { olderThanMs: 0, batchSize: 20, concurrency: 2 }),
    ]);
    expect(first + second).toBe(30);
    expect(deliveries.sort()).toEqual(ids);
  });
});

describe('inbox relay, a call cancelled at its deadline', () => {
  it('given no worker polling, when every attempt is cancelled, then the event waits without using up its attempts and is not set aside', async () => {
    await acceptOrders('pat', ['o-cancelled']);
    let now = Date.now() + 60_000;
    for (let round = 0; round < 3; round += 1) {
      const at = now;
      await relayUndeliveredEvents(
        deps(
          fakeTemporal(async () => Promise.reject(cancelled()), 0),
          () => new Date(at),
        ),
        { olderThanMs: 0, maxAttempts: 1 },
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
    await acceptOrders('pat', ['o-slow']);
    await relayUndeliveredEvents(deps(fakeTemporal(async () => Promise.reject(cancelled()), 1)), { olderThanMs: 0 });
    expect((await inbox())[0]).toMatchObject({ state: 'received', attempts: 1 });
  });
});
