import { findFailedEvents, requeueFailedEvents } from '../db/inbox';
import type { InboxEventKind } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';

export interface FailedEvent {
  eventId: string;
  kind: InboxEventKind;
  reason: string;
  attempts: number;
  lastAttemptAt: string | null;
}

interface Cursor {
  lastAttemptAt: Date;
  kind: InboxEventKind;
  eventId: string;
}

const encodeCursor = (c: { lastAttemptAt: string; kind: string; eventId: string }): string =>
  Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(cursor: string): Cursor {
  try {
    const raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    const at = new Date(String(raw.lastAttemptAt));
    // a date JavaScript takes but PostgreSQL does not would fail the query instead of the cursor
    if (
      Number.isNaN(at.getTime()) ||
      at.getUTCFullYear() < 1970 ||
      at.getUTCFullYear() > 9999 ||
      (raw.kind !== 'signup' && raw.kind !== 'order') ||
      typeof raw.eventId !== 'string'
    ) {
      throw new Error('bad cursor');
    }
    return { lastAttemptAt: at, kind: raw.kind, eventId: raw.eventId };
  } catch {
    throw new IntakeError('validation_failed', 'cursor is not one this list gave out', [
      { path: 'cursor', message: 'unknown cursor' },
    ]);
  }
}

/** Events the relay set aside after too many failed deliveries, most recently tried first. */
export async function listFailedEvents(
  deps: IntakeDependencies,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: FailedEvent[]; nextCursor: string | null }> {
  const rows = await findFailedEvents(deps.db, {
    limit: page.limit + 1,
    after: page.cursor ? decodeCursor(page.cursor) : undefined,
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
