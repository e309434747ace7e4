import { createHash } from 'node:crypto';
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
  | { accepted: true; event: InboxEvent }
  | { accepted: false; existing: InboxEvent; samePayload: boolean };

/** Keeps an inbound event. The (kind, eventId) key recognises a replay, which is answered, not applied again. */
export async function acceptEvent(
  db: DB,
  event: {
    kind: InboxEventKind;
    eventId: string;
    customerId: string;
    orderId?: string | null;
    payload: Record<string, unknown>;
    /** what identifies "the same event" when the stored payload has defaults filled in; the payload by default */
    fingerprint?: unknown;
    /** the referral this event was resolved to when accepted, so a later delivery reaches the same one */
    referralId?: string | null;
  },
): Promise<Acceptance> {
  const hash = payloadHash(event.fingerprint ?? event.payload);
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
      response: null,
      last_error: null,
      delivered_at: null,
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
): Promise<void> {
  await db
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
    // An order already taken by its referral's registration stays delivered.
    .where('state', 'in', outcome.state === 'awaiting_signup' ? ['received'] : ['received', 'awaiting_signup'])
    .execute();
}

export async function recordDeliveryFailure(db: DB, kind: InboxEventKind, eventId: string, error: string): Promise<void> {
  await db
    .updateTable('inbox_events')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error.slice(0, 2000) }))
    .where('kind', '=', kind)
    .where('event_id', '=', eventId)
    .execute();
}

export const findInboxEvent = (db: DB, kind: InboxEventKind, eventId: string): Promise<InboxEvent | undefined> =>
  db.selectFrom('inbox_events').selectAll().where('kind', '=', kind).where('event_id', '=', eventId).executeTakeFirst();

/** Accepted events whose delivery did not finish (the API died, Temporal was down): what the relay retries. */
export const findUndeliveredEvents = (db: DB, receivedBefore: Date, limit: number): Promise<InboxEvent[]> =>
  db
    .selectFrom('inbox_events')
    .selectAll()
    .where('state', '=', 'received')
    .where('received_at', '<', receivedBefore)
    .orderBy('received_at')
    .limit(limit)
    .execute();
