import type { DB } from './connection';
import type { AdminRequestRow, AdminRequestTable } from './schema';

export const findAdminRequest = (db: DB, requestId: string): Promise<AdminRequestRow | undefined> =>
  db.selectFrom('admin_requests').selectAll().where('request_id', '=', requestId).executeTakeFirst();

/** Records the first admin request with a requestId; a later one with the same id gets the existing row. */
export async function reserveAdminRequest(
  db: DB,
  request: { requestId: string; action: AdminRequestTable['action']; referralId: string; bodyHash: string },
): Promise<{ created: boolean; request: AdminRequestRow }> {
  const inserted = await db
    .insertInto('admin_requests')
    .values({
      request_id: request.requestId,
      action: request.action,
      referral_id: request.referralId,
      body_hash: request.bodyHash,
      response: null,
    })
    .onConflict((oc) => oc.column('request_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { created: true, request: inserted };
  const existing = await db
    .selectFrom('admin_requests')
    .selectAll()
    .where('request_id', '=', request.requestId)
    .executeTakeFirstOrThrow();
  return { created: false, request: existing };
}

/** The request's answer; only the first is kept, so every repeat of the request gets that one. */
export async function recordAdminResponse(db: DB, requestId: string, response: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('admin_requests')
    .set({ response: JSON.stringify(response) })
    .where('request_id', '=', requestId)
    .where('response', 'is', null)
    .execute();
}
