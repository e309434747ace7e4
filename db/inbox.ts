import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { DB } from './connection';
import type { InboxEvent, InboxEventKind } from './schema';

/** Canonical JSON (sorted keys), so the same event sent with keys in another order is still the same event. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

export const payloadHash = (payload: unknown): string => createHash('sha256').update(canonical(payload)).digest('hex');

export type Acceptance =
  { accepted: true; event: InboxEvent } | { accepted: false; existing: InboxEvent; samePayload: boolean };

/** Keeps an inbound event. The (kind, eventId) key recognises a replay, which is answered, not applied again. */
export async function acceptEvent(
  db: DB,
  event: {
    kind: InboxEventKind;
    eventId: string;
    customerId: string;
    orderId?: string | null;
    payload: Record<string, unknown>;
    /** what identifies "the same event" when the stored payload has defaults filled in; the payload's hash by default */
    hash?: string;
    /** the referral this event was resolved to when accepted, so a later delivery reaches the same one */
    referralId?: string | null;
    /** an event refused before delivery: kept as such at once, so replays get the same answer and nothing relays it */
    refused?: { response: Record<string, unknown>; note: string };
  },
): Promise<Acceptance> {
  const hash = event.hash ?? payloadHash(event.payload);
  const inserted = await db
    .insertInto('inbox_events')
    .values({
      kind: event.kind,
      event_id: event.eventId,
      customer_id: event.customerId,
      order_id: event.orderId ?? null,
      payload: JSON.stringify(event.payload),
      payload_hash: hash,
      referral_id: event.referralId ?? null,
      response: event.refused ? JSON.stringify(event.refused.response) : null,
      last_error: event.refused?.note ?? null,
      delivered_at: null,
      ...(event.refused ? { state: 'ignored' as const } : {}),
    })
    .onConflict((oc) => oc.columns(['kind', 'event_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { accepted: true, event: inserted };
  const existing = await db
    .selectFrom('inbox_events')
    .selectAll()
    .where('kind', '=', event.kind)
    .where('event_id', '=', event.eventId)
    .executeTakeFirstOrThrow();
  return { accepted: false, existing, samePayload: existing.payload_hash === hash };
}

export async function markEvent(
  db: DB,
  kind: InboxEventKind,
  eventId: string,
  outcome: {
    state: 'delivered' | 'awaiting_signup' | 'ignored';
    referralId?: string | null;
    response?: Record<string, unknown>;
    note?: string;
  },
): Promise<boolean> {
  const updated = await db
    .updateTable('inbox_events')
    .set({
      state: outcome.state,
      ...(outcome.referralId !== undefined ? { referral_id: outcome.referralId } : {}),
      response: outcome.response ? JSON.stringify(outcome.response) : null,
      last_error: outcome.note ?? null,
      delivered_at: outcome.state === 'awaiting_signup' ? null : new Date(),
    })
    .where('kind', '=', kind)
    .where('event_id', '=', eventId)
    // An order already taken by its referral's registration stays delivered; a failed event that a replay or an admin
    // got through is settled like any other.
    .where(
      'state',
      'in',
      outcome.state === 'awaiting_signup' ? ['received'] : ['received', 'awaiting_signup', 'failed'],
    )
    .executeTakeFirst();
  // false when another delivery got there first: its outcome stands
  return updated.numUpdatedRows > 0n;
}

/** A delivery attempt that did not finish; the relay takes the event up later. */
export async function recordDeliveryFailure(
  db: DB,
  kind: InboxEventKind,
  eventId: string,
  error: string,
): Promise<void> {
  await db
    .updateTable('inbox_events')
    .set({ last_error: error.slice(0, 2000), last_attempt_at: new Date() })
    .where('kind', '=', kind)
    .where('event_id', '=', eventId)
    // an outcome already settled (delivered, refused, set aside) keeps its own note
    .where('state', '=', 'received')
    .execute();
}

/** A signup accepted for one referral that must go to another (the claim it completed ended before it arrived). */
export async function retargetEvent(db: DB, kind: InboxEventKind, eventId: string, referralId: string): Promise<void> {
  await db
    .updateTable('inbox_events')
    .set({ referral_id: referralId })
    .where('kind', '=', kind)
    .where('event_id', '=', eventId)
    .execute();
}

export const findInboxEvent = (db: DB, kind: InboxEventKind, eventId: string): Promise<InboxEvent | undefined> =>
  db.selectFrom('inbox_events').selectAll().where('kind', '=', kind).where('event_id', '=', eventId).executeTakeFirst();

/**
 * Takes the next accepted event whose delivery did not finish (the API died, Temporal was down) and is due, and leases
 * it to the caller until `leaseUntil`, counting the attempt. SKIP LOCKED and the lease let several relays share the
 * work: each event goes to one of them, and one that dies leaves its event to the others when the lease ends. One at a
 * time, so a lease only starts when its delivery does.
 */
export async function leaseNextUndeliveredEvent(
  db: DB,
  options: { now: Date; receivedBefore: Date; leaseUntil: Date },
): Promise<InboxEvent | undefined> {
  const { rows } = await sql<InboxEvent>`
    update inbox_events as e
       set next_attempt_at = ${options.leaseUntil}, last_attempt_at = ${options.now}, attempts = e.attempts + 1
      from (select kind, event_id
              from inbox_events
             where state = 'received'
               and received_at < ${options.receivedBefore}
               and coalesce(next_attempt_at, received_at) <= ${options.now}
             order by coalesce(next_attempt_at, received_at)
             limit 1
               for update skip locked) as due
     where e.kind = due.kind and e.event_id = due.event_id
    returning e.*`.execute(db);
  return rows[0];
}

/**
 * A relay attempt that failed: try again at `retryAt` (giving the attempt back when the event was not at fault), or set
 * the event aside as failed with its reason. Only the holder of the lease may: a relay whose lease ran out and was
 * taken over changes nothing.
 */
export async function rescheduleEvent(
  db: DB,
  event: { kind: InboxEventKind; eventId: string; leaseUntil: Date },
  outcome: { retryAt: Date; error: string; refundAttempt?: boolean } | { failed: true; error: string },
): Promise<void> {
  await db
    .updateTable('inbox_events')
    .set((eb) => ({
      last_error: outcome.error.slice(0, 2000),
      ...('failed' in outcome
        ? { state: 'failed' as const, next_attempt_at: null }
        : { next_attempt_at: outcome.retryAt, ...(outcome.refundAttempt ? { attempts: eb('attempts', '-', 1) } : {}) }),
    }))
    .where('kind', '=', event.kind)
    .where('event_id', '=', event.eventId)
    .where('state', '=', 'received')
    .where('next_attempt_at', '=', event.leaseUntil)
    .execute();
}

/** Events set aside after too many failed deliveries, most recently tried first. */
export async function findFailedEvents(
  db: DB,
  page: { limit: number; after?: { lastAttemptAt: Date; kind: InboxEventKind; eventId: string } | undefined },
): Promise<InboxEvent[]> {
  let query = db.selectFrom('inbox_events').selectAll().where('state', '=', 'failed');
  const after = page.after;
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb('last_attempt_at', '<', after.lastAttemptAt),
        eb.and([eb('last_attempt_at', '=', after.lastAttemptAt), eb('kind', '>', after.kind)]),
        eb.and([
          eb('last_attempt_at', '=', after.lastAttemptAt),
          eb('kind', '=', after.kind),
          eb('event_id', '>', after.eventId),
        ]),
      ]),
    );
  }
  return query.orderBy('last_attempt_at', 'desc').orderBy('kind').orderBy('event_id').limit(page.limit).execute();
}

/** Puts failed events with this id back in the relay's hands, due now, with their attempts counted afresh. */
export async function requeueFailedEvents(db: DB, eventId: string, now: Date): Promise<InboxEvent[]> {
  return db
    .updateTable('inbox_events')
    .set({ state: 'received', attempts: 0, next_attempt_at: now })
    .where('event_id', '=', eventId)
    .where('state', '=', 'failed')
    .returningAll()
    .execute();
}
