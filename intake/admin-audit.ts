import { findAdminAuditPage, type AdminAuditKey } from '../db/admin-audit';
import type { AdminAuditTable } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { cursorInstant, cursorText, decodeCursor, encodeCursor } from './page-cursor';

export interface AdminAuditEntry {
  id: string;
  at: string;
  actor: string;
  action: AdminAuditTable['action'];
  referralId: string;
  requestId: string;
  reason: string | null;
  /** the referral as the action found it: status, deadlines, review */
  before: Record<string, unknown>;
  /** the referral as the action left it */
  after: Record<string, unknown>;
}

export interface AdminAuditQuery {
  referralId?: string | undefined;
  actor?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** `at` as the list keys it: UTC, to the microsecond (see AdminAuditKey). */
const KEY_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** A bigserial, as PostgreSQL's bigint takes it: any other text would fail the query instead of being refused. */
const BIGINT = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

function readCursor(raw: Record<string, unknown>): AdminAuditKey {
  if (raw.list !== 'audit') throw new Error('another list');
  const at = cursorText(raw.at);
  const id = cursorText(raw.id);
  if (!KEY_INSTANT.test(at) || !BIGINT.test(id) || BigInt(id) > MAX_BIGINT) throw new Error('bad key');
  cursorInstant(at);
  return { at, id };
}

/** Admin actions matching every filter given, newest first. */
export async function listAdminAudit(
  deps: IntakeDependencies,
  query: AdminAuditQuery,
): Promise<{ items: AdminAuditEntry[]; nextCursor: string | null }> {
  const rows = await findAdminAuditPage(deps.db, {
    filter: {
      referralId: query.referralId,
      actor: query.actor,
      from: query.from === undefined ? undefined : new Date(query.from),
      to: query.to === undefined ? undefined : new Date(query.to),
    },
    // One more than asked: whether it comes back says whether there is a next page.
    limit: query.limit + 1,
    after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, readCursor),
  });
  const shown = rows.slice(0, query.limit);
  const last = shown.at(-1);
  return {
    items: shown.map((row) => ({
      id: row.id,
      at: row.at.toISOString(),
      actor: row.actor,
      action: row.action,
      referralId: row.referral_id,
      requestId: row.request_id,
      reason: row.reason,
      before: row.before,
      after: row.after,
    })),
    nextCursor:
      rows.length > query.limit && last ? encodeCursor({ list: 'audit', at: last.list_key_at, id: last.id }) : null,
  };
}
