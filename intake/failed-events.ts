import { findFailedEvents, requeueFailedEvents } from '../db/inbox';
import type { InboxEventKind } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { cursorInstant, cursorText, decodeCursor, encodeCursor } from './page-cursor';

export interface FailedEvent {
  eventId: string;
  kind: InboxEventKind;
  reason: string;
  attempts: number;
  lastAttemptAt: string | null;
}

const readCursor = (raw: Record<string, unknown>): { lastAttemptAt: Date; kind: InboxEventKind; eventId: string } => {
  if (raw.kind !== 'signup' && raw.kind !== 'order') throw new Error('bad kind');
  return { lastAttemptAt: cursorInstant(raw.lastAttemptAt), kind: raw.kind, eventId: cursorText(raw.eventId) };
};

/** Events the relay set aside after too many failed deliveries, most recently tried first. */
export async function listFailedEvents(
  deps: IntakeDependencies,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: FailedEvent[]; nextCursor: string | null }> {
  const rows = await findFailedEvents(deps.db, {
    limit: page.limit + 1,
    after: page.cursor ? decodeCursor(page.cursor, readCursor) : undefined,
  });
  const items = rows.slice(0, page.limit).map((row) => ({
    eventId: row.event_id,
    kind: row.kind,
    reason: row.last_error ?? '',
    attempts: row.attempts,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
  }));
  const last = items.at(-1);
  const nextCursor =
    rows.length > page.limit && last
      ? encodeCursor({ lastAttemptAt: last.lastAttemptAt ?? '', kind: last.kind, eventId: last.eventId })
      : null;
  return { items, nextCursor };
}

/** Hands failed events with this id back to the relay, due now. */
export async function redeliverFailedEvent(
  deps: IntakeDependencies,
  request: { eventId: string; actor: string },
): Promise<void> {
  const requeued = await requeueFailedEvents(deps.db, request.eventId, deps.clock());
  if (requeued.length === 0) throw new IntakeError('not_found', `no failed event ${request.eventId}`);
  deps.logger.info(
    { actor: request.actor, eventId: request.eventId, kinds: requeued.map((e) => e.kind) },
    'failed event redelivered',
  );
}
