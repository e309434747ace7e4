import type { Client } from '@temporalio/client';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { findTimeline } from '../../db/referrals';
import { createDeliveryQueue } from '../../intake/delivery-queue';
import type { IntakeDependencies } from '../../intake/deps';
import { handleOrder, type OrderEvent } from '../../intake/order-delivery';
import { TASK_QUEUE } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';
import { insertReferralRow, refereeWithReferral } from '../support/projection-rows';
import { KEYS } from '../support/http';
import { appOver, untouchableTemporal } from '../support/app';

/** Order intake on a real database, with a Temporal client that only takes order signals. */
let db: DB;
let drop: () => Promise<void>;
let programId: string;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  const { api } = appOver(db);
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Orders', currency: 'INR' })).body.id;
});
afterAll(() => drop());

const signals = (signal: (eventId: string) => Promise<void>): Client =>
  ({
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: { getHandle: () => ({ signal: (_def: unknown, facts: { eventId: string }) => signal(facts.eventId) }) },
  }) as unknown as Client;

const depsWith = (temporal: Client, deliveries?: IntakeDependencies['deliveries']): IntakeDependencies => ({
  db,
  temporal,
  clock: () => new Date(),
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
  deliveries,
});

const referee = (closedAt: Date | null) => refereeWithReferral(db, programId, closedAt);

const order = (customerId: string): OrderEvent => ({
  eventId: randomUUID(),
  customerId,
  orderId: randomUUID(),
  status: 'completed',
  amount: 60_000,
  currency: 'INR',
  occurredAt: new Date().toISOString(),
});

const eventState = async (eventId: string) =>
  (await db.selectFrom('inbox_events').select('state').where('event_id', '=', eventId).executeTakeFirstOrThrow()).state;

async function until(check: () => Promise<boolean>, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('order intake', () => {
  it('given a delivery queue, when an order is accepted, then it is answered before its signal finishes and delivered after', async () => {
    const { customerId } = await referee(null);
    let release: () => void = () => {};
    const signalled = new Promise<void>((resolve) => (release = resolve));
    const sent: string[] = [];
    const deliveries = createDeliveryQueue({ concurrency: 4, capacity: 10, logger: pino({ level: 'silent' }) });
    const deps = depsWith(
      signals(async (eventId) => {
        sent.push(eventId);
        await signalled;
      }),
      deliveries,
    );
    const event = order(customerId);

    expect(await handleOrder(deps, event)).toEqual({ duplicate: false });
    expect(await eventState(event.eventId)).toBe('received');
    await until(async () => sent.length === 1);
    release();
    await deliveries.drain(5_000);
    expect(await eventState(event.eventId)).toBe('delivered');
  });

  it('given a full delivery queue, when an order is accepted, then its request delivers it before answering', async () => {
    const { customerId } = await referee(null);
    const deliveries = { offer: () => false, drain: async () => {}, size: () => 0 };
    const deps = depsWith(
      signals(async () => {}),
      deliveries,
    );
    const event = order(customerId);
    await handleOrder(deps, event);
    expect(await eventState(event.eventId)).toBe('delivered');
  });

  it('given a referral whose workflow has finished, when its referee orders, then the order is settled without Temporal and shown once as a late fact', async () => {
    const { customerId, referralId } = await referee(new Date());
    let touched = 0;
    const deps = depsWith(untouchableTemporal(() => (touched += 1)));
    const event = order(customerId);

    await handleOrder(deps, event);
    await handleOrder(deps, event);

    expect(touched).toBe(0);
    expect(await eventState(event.eventId)).toBe('ignored');
    const lateFacts = (await findTimeline(db, referralId)).filter((t) => t.kind === 'late_fact');
    expect(lateFacts).toEqual([
      expect.objectContaining({
        detail: expect.objectContaining({ eventId: event.eventId, reason: 'the referral had ended' }),
      }),
    ]);
  });

  it('given a referral that expired while its workflow writes its close, when its referee orders, then the order is settled without Temporal as a late fact', async () => {
    const customerId = `c-${randomUUID()}`;
    const referral = await insertReferralRow(db, {
      program_id: programId,
      referee_id: customerId,
      status: 'expired',
      ended_at: new Date(),
      end_reason: 'qualification_window_closed',
      closed_at: null,
    });
    await db
      .insertInto('customers')
      .values({ id: customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: referral.id })
      .execute();
    let touched = 0;
    const event = order(customerId);
    await handleOrder(depsWith(untouchableTemporal(() => (touched += 1))), event);
    expect(touched).toBe(0);
    expect(await eventState(event.eventId)).toBe('ignored');
  });

  it('given a delivery queue being drained, when more orders arrive, then it takes none and waits only for what it holds', async () => {
    const deliveries = createDeliveryQueue({ concurrency: 1, capacity: 10, logger: pino({ level: 'silent' }) });
    let finished = 0;
    expect(deliveries.offer(() => new Promise((resolve) => setTimeout(() => resolve((finished += 1)), 50)))).toBe(true);
    const drained = deliveries.drain(5_000);
    expect(deliveries.offer(async () => (finished += 1))).toBe(false);
    await drained;
    expect(finished).toBe(1);
    expect(deliveries.size()).toBe(0);
  });
});
