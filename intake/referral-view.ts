import type { ReferralRow } from '../db/schema';
import type { ReferralDeadlines, ReferralSnapshot, ReferralStatus } from '../workflows/shared';

/** A referral as readers see it (the API's `Referral` schema describes the same shape). */
export interface ReferralView {
  id: string;
  status: ReferralStatus;
  programId: string;
  programVersion: number;
  referrerId: string;
  refereeId: string | null;
  code: string;
  channel: string | null;
  createdAt: string;
  updatedAt: string;
  registeredAt: string | null;
  qualifiedAt: string | null;
  completedAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  deadlines: ReferralDeadlines;
  progress: { countedOrders: number; countedSpend: number };
  /** fraud signals found at claim and signup; empty when none */
  flags: string[];
  /** while under review: when the admin's decision is due; null in every other status */
  review: { decideBy: string } | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/**
 * The status a referral holds while its rewards wait for an admin's decision. Compared as text: the projection's
 * check constraint has always allowed it, and the workflow's statuses take it in with the fraud review.
 */
export const UNDER_REVIEW = 'under_review';
const inReview = (status: string): boolean => status === UNDER_REVIEW;

export const referralViewFromRow = (row: ReferralRow): ReferralView => ({
  id: row.id,
  status: row.status,
  programId: row.program_id,
  programVersion: row.program_version,
  referrerId: row.referrer_id,
  refereeId: row.referee_id,
  code: row.code,
  channel: row.channel,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  registeredAt: iso(row.registered_at),
  qualifiedAt: iso(row.qualified_at),
  completedAt: iso(row.completed_at),
  endedAt: iso(row.ended_at),
  endReason: row.end_reason,
  deadlines: { expiresAt: iso(row.expires_at), qualifyBy: iso(row.qualify_by), holdUntil: iso(row.hold_until) },
  // Spend is summed from bounded order amounts and capped at a safe integer, so it fits a JSON number exactly.
  progress: { countedOrders: row.counted_orders, countedSpend: Number(row.counted_spend) },
  flags: row.flags,
  review: inReview(row.status) && row.review_decide_by ? { decideBy: row.review_decide_by.toISOString() } : null,
});

/** The same view from the workflow's own state, for the moment between a start and its first projection write. */
export const referralViewFromSnapshot = (
  s: ReferralSnapshot,
  channel: string | null,
  updatedAt: string,
): ReferralView => ({
  id: s.referralId,
  status: s.status,
  programId: s.programId,
  programVersion: s.programVersion,
  referrerId: s.referrerId,
  refereeId: s.refereeId,
  code: s.code,
  channel,
  createdAt: s.createdAt,
  updatedAt: s.recentTimeline.at(-1)?.at ?? updatedAt,
  registeredAt: s.registeredAt,
  qualifiedAt: s.qualifiedAt,
  completedAt: s.completedAt,
  endedAt: s.endedAt,
  endReason: s.endReason,
  deadlines: s.deadlines,
  progress: { countedOrders: s.progress.countedOrders, countedSpend: s.progress.countedSpend },
  flags: s.flags ?? [],
  review: inReview(s.status) && s.review ? { decideBy: s.review.decideBy } : null,
});
