import { findReferralFaults } from '../db/referral-faults';
import type { IntakeDependencies } from './deps';
import { cursorInstant, cursorText, decodeCursor, encodeCursor } from './page-cursor';

export interface ReferralFaultView {
  faultId: string;
  referralId: string;
  /** the activity that failed and how */
  activity: string;
  failureType: string;
  message: string;
  /** the referral's status when it stopped */
  status: string;
  createdAt: string;
}

const readCursor = (raw: Record<string, unknown>): { createdAt: Date; id: string } => ({
  createdAt: cursorInstant(raw.createdAt),
  id: cursorText(raw.id),
});

/** Referrals stopped by a failure no retry could fix (each also logged at error level when it happened). */
export async function listReferralFaults(
  deps: IntakeDependencies,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: ReferralFaultView[]; nextCursor: string | null }> {
  const rows = await findReferralFaults(deps.db, {
    limit: page.limit + 1,
    after: page.cursor ? decodeCursor(page.cursor, readCursor) : undefined,
  });
  const items = rows.slice(0, page.limit).map((row) => ({
    faultId: row.id,
    referralId: row.referral_id,
    activity: row.activity,
    failureType: row.failure_type,
    message: row.message,
    status: row.status,
    createdAt: row.created_at.toISOString(),
  }));
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > page.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.faultId }) : null,
  };
}
