import { IntakeError } from './errors';

/**
 * The opaque cursors of the admin lists: the sort key of a page's last row, as base64url JSON. A cursor that is not one
 * a list gave out is a clear refusal, never a failed query.
 */
export const encodeCursor = (key: Record<string, string>): string =>
  Buffer.from(JSON.stringify(key)).toString('base64url');

/** The cursor's fields, each checked by `read` (which throws on anything it does not accept). */
export function decodeCursor<T>(cursor: string, read: (raw: Record<string, unknown>) => T): T {
  try {
    const raw: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not an object');
    return read(raw as Record<string, unknown>);
  } catch {
    throw new IntakeError('validation_failed', 'cursor is not one this list gave out', [
      { path: 'cursor', message: 'unknown cursor' },
    ]);
  }
}

/** An instant from a cursor, within what PostgreSQL stores (a date JavaScript takes, PostgreSQL may not). */
export function cursorInstant(value: unknown): Date {
  const at = new Date(String(value));
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1970 || at.getUTCFullYear() > 9999)
    throw new Error('bad instant');
  return at;
}

export function cursorText(value: unknown): string {
  if (typeof value !== 'string') throw new Error('bad text');
  return value;
}
