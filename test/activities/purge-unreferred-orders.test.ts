import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInboxActivities } from '../../activities/inbox';
import type { DB } from '../../db/connection';
import { acceptEvent, markEvent } from '../../db/inbox';
import type { InboxEventState } from '../../db/schema';
import { createTestDatabase } from '../support/database';

/**
 * The inbox retention's activity over a real database: orders of customers nobody referred go once past the
 * retention, unless the customer's signup is already in the inbox waiting to be delivered.
 */
let db: DB;
let drop: () => Promise<void>;
let purge: ReturnType<typeof createInboxActivities>['purgeUnreferredOrders'];
const DAY = 86_400_000;
const RETENTION_DAYS = 90;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  purge = createInboxActivities({ db }).purgeUnreferredOrders;
});
afterAll(() => drop());

async function receivedDaysAgo(eventId: string, days: number): Promise<void> {
  await db
    .updateTable('inbox_events')
    .set({ received_at: new Date(Date.now() - days * DAY) })
    .where('event_id', '=', eventId)
    .execute();
}

/** An order of `customerId` kept `days` ago with no referral to go to. */
async function unreferredOrder(customerId: string, days: number): Promise<string> {
  const eventId = `order-${randomUUID()}`;
  const payload = { eventId, customerId, orderId: eventId, status: 'completed', amount: 100, currency: 'INR' };
  await acceptEvent(db, { kind: 'order', eventId, customerId, orderId: eventId, payload });
  await markEvent(db, 'order', eventId, { state: 'awaiting_signup' });
  await receivedDaysAgo(eventId, days);
  return eventId;
}

/** The customer's coded signup, accepted and left in `state` (received: not delivered yet). */
async function signup(customerId: string, state: InboxEventState): Promise<string> {
  const eventId = `signup-${randomUUID()}`;
  await acceptEvent(db, {
    kind: 'signup',
    eventId,
    customerId,
    payload: { eventId, customerId, code: 'ANNA2026' },
    referralId: randomUUID(),
  });
  if (state !== 'received')
    await db.updateTable('inbox_events').set({ state }).where('event_id', '=', eventId).execute();
  await receivedDaysAgo(eventId, 1);
  return eventId;
}

const remaining = async (eventIds: string[]): Promise<string[]> =>
  (await db.selectFrom('inbox_events').select('event_id').where('event_id', 'in', eventIds).execute())
    .map((row) => row.event_id)
    .toSorted((a, b) => a.localeCompare(b));

const runRetention = () =>
  purge({ receivedBefore: new Date(Date.now() - RETENTION_DAYS * DAY).toISOString(), limit: 1_000 });

describe('purgeUnreferredOrders', () => {
  it('given old orders of a customer whose signup was accepted but not yet delivered (Temporal was down), when the retention runs, then their orders stay while another customer’s go', async () => {
    const waiting = `waiting-${randomUUID()}`;
    const nobody = `nobody-${randomUUID()}`;
    const kept = [await unreferredOrder(waiting, 100), await unreferredOrder(waiting, 400)];
    const gone = await unreferredOrder(nobody, 100);
    await signup(waiting, 'received');

    expect(await runRetention()).toBeGreaterThanOrEqual(1);

    expect(await remaining([...kept, gone])).toEqual(kept.toSorted((a, b) => a.localeCompare(b)));
  });

  it('given old orders of a customer whose signup the relay set aside as failed, when the retention runs, then they stay for the redelivery an admin may ask for', async () => {
    const setAside = `set-aside-${randomUUID()}`;
    const order = await unreferredOrder(setAside, 100);
    await signup(setAside, 'failed');

    await runRetention();

    expect(await remaining([order])).toEqual([order]);
  });

  it('given old orders of a customer whose signup was delivered or refused, when the retention runs, then they go: nothing will take them', async () => {
    const delivered = `plain-${randomUUID()}`;
    const refused = `refused-${randomUUID()}`;
    const orders = [await unreferredOrder(delivered, 100), await unreferredOrder(refused, 100)];
    await signup(delivered, 'delivered');
    await signup(refused, 'ignored');

    await runRetention();

    expect(await remaining(orders)).toEqual([]);
  });

  it('given a customer’s signup delivered at last, when the retention runs again, then the orders it left behind go', async () => {
    const customer = `late-${randomUUID()}`;
    const order = await unreferredOrder(customer, 100);
    const signupId = await signup(customer, 'received');
    await runRetention();
    expect(await remaining([order])).toEqual([order]);

    await markEvent(db, 'signup', signupId, { state: 'delivered' });
    await runRetention();
    expect(await remaining([order])).toEqual([]);
  });
});
