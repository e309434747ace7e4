import { sql } from 'kysely';
import type { DB } from './connection';
import type { AdminAuditRow, AdminAuditTable } from './schema';

/** The audit row the workflow wrote for this request, if it applied the action. */
export const findAuditOfRequest = (
  db: DB,
  request: { referralId: string; action: AdminAuditTable['action']; requestId: string },
): Promise<AdminAuditRow | undefined> =>
  db
    .selectFrom('admin_audit')
    .selectAll()
    .where('referral_id', '=', request.referralId)
    .where('action', '=', request.action)
    .where('request_id', '=', request.requestId)
    .executeTakeFirst();

/** What an admin may narrow the audit list to; every filter given must hold. */
export interface AdminAuditFilter {
  referralId?: string | undefined;
  actor?: string | undefined;
  /** at or after */
  from?: Date | undefined;
  /** before */
  to?: Date | undefined;
}

/**
 * A row's place in the list: `at` to the microsecond PostgreSQL keeps (a JavaScript Date keeps milliseconds, and a key
 * rounded down would pass over the rows between it and the row it stands for), and the id that breaks ties.
 */
export interface AdminAuditKey {
  at: string;
  id: string;
}

export type AdminAuditListRow = AdminAuditRow & { list_key_at: string };

/**
 * A page of the audit log, newest first, after `after`. Rows are never changed, so paging while actions are recorded
 * lists none twice and passes over none that was there when the first page was read. Each filter leads an index that
 * ends in (at, id) (migration 0020), so a page is one range of it; test/db/query-plans.test.ts explains each.
 */
export function findAdminAuditPage(
  db: DB,
  page: { filter: AdminAuditFilter; limit: number; after?: AdminAuditKey | undefined },
): Promise<AdminAuditListRow[]> {
  const { filter, after } = page;
  let query = db
    .selectFrom('admin_audit')
    .selectAll()
    .select(sql<string>`to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('list_key_at'));
  if (filter.referralId !== undefined) query = query.where('referral_id', '=', filter.referralId);
  if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
  if (filter.from) query = query.where('at', '>=', filter.from);
  if (filter.to) query = query.where('at', '<', filter.to);
  if (after) {
    // One row comparison, not an OR of its cases: the index reads it as a single range.
    query = query.where(sql<boolean>`(at, id) < (cast(${after.at} as timestamptz), cast(${after.id} as bigint))`);
  }
  return query.orderBy('at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
}
