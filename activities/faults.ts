import type { DB } from '../db/connection';

export interface ReferralFaultRecord {
  /** idempotency key from the workflow: referral id plus step */
  faultId: string;
  referralId: string;
  activity: string;
  failureType: string;
  message: string;
  status: string;
  detail?: Record<string, unknown> | undefined;
}

export function createFaultActivities({ db }: { db: DB }) {
  return {
    /** Keeps a fault for admins to list. Keyed by the workflow: recording it twice writes it once. */
    async recordReferralFault(fault: ReferralFaultRecord): Promise<void> {
      await db
        .insertInto('referral_faults')
        .values({
          id: fault.faultId,
          referral_id: fault.referralId,
          activity: fault.activity,
          failure_type: fault.failureType,
          message: fault.message,
          status: fault.status,
          detail: fault.detail ? JSON.stringify(fault.detail) : null,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },
  };
}
