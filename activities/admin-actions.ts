import type { DB } from '../db/connection';
import type { AdminActionRecord } from '../workflows/shared';

export function createAdminActionActivities({ db }: { db: DB }) {
  return {
    /**
     * Appends an admin action to the audit log as the referral's workflow applies it. Keyed by referral, action and
     * request id: a retried write adds nothing.
     */
    async recordAdminAction(record: AdminActionRecord): Promise<void> {
      await db
        .insertInto('admin_audit')
        .values({
          at: record.at,
          actor: record.actor,
          action: record.action,
          referral_id: record.referralId,
          request_id: record.requestId,
          reason: record.reason,
          before: JSON.stringify(record.before),
          after: JSON.stringify(record.after),
        })
        .onConflict((oc) => oc.constraint('admin_audit_request_uq').doNothing())
        .execute();
    },
  };
}
