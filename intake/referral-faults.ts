import { findReferralFaults } from '../db/referral-faults';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';

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

const encodeCursor = (c: { createdAt: string; id: string }): string =>
  Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const raw = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    const at = new Date(String(raw.createdAt));
    // a date JavaScript takes but PostgreSQL does not would fail the query instead of the cursor
    if (
      Number.isNaN(at.getTime()) ||
      at.getUTCFullYear() < 1970 ||
      at.getUTCFullYear() > 9999 ||
      typeof raw.id !== 'string'
    ) {
      throw new Error('bad cursor');
    }
    return { createdAt: at, id: raw.id };
  } catch {
    throw new IntakeError('validation_failed', 'cursor is not one this list gave out', [
      { path: 'cursor', message: 'unknown cursor' },
    ]);
  }
}

/** Referrals stopped by a failure no retry could fix (each also logged at error level when it happened). */
export async function listReferralFaults(
  deps: IntakeDependencies,
  page: { limit: number; cursor?: string | undefined },
): Promise<{ items: ReferralFaultView[]; nextCursor: string | null }> {
  const rows = await findReferralFaults(deps.db, {
    limit: page.limit + 1,
    after: page.cursor ? decodeCursor(page.cursor) : undefined,
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
