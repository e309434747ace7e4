import { randomUUID } from 'node:crypto';
import { findReferral, findTimeline } from '../db/referrals';
import type { TimelineRow } from '../db/schema';
import type { ReferralSnapshot } from '../workflows/shared';
import { performAdminAction, type AdminActionOutcome } from './admin-actions';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { loadReferralView, queryLiveState } from './referral-lookup';
import { referralViewFromRow, type ReferralView } from './referral-view';

export interface AdminReferralView extends ReferralView {
  /** the workflow's own state, when it answers */
  live: ReferralSnapshot | null;
  timeline: Array<{ seq: number; at: string; kind: string; status: string; detail: Record<string, unknown> | null }>;
}

const timelineItem = (t: TimelineRow) => ({
  seq: t.seq,
  at: t.at.toISOString(),
  kind: t.kind,
  status: t.status,
  detail: t.detail,
});

/**
 * A referral with its live workflow state (while its workflow runs and answers) and its whole timeline. A finished
 * referral is read from the projection alone: a query would replay its whole history to say what the row says.
 */
export async function readAdminReferral(deps: IntakeDependencies, referralId: string): Promise<AdminReferralView> {
  const row = await findReferral(deps.db, referralId);
  const [view, timeline, live] = await Promise.all([
    row ? referralViewFromRow(row) : loadReferralView(deps, referralId),
    findTimeline(deps.db, referralId),
    row?.closed_at
      ? undefined
      : queryLiveState(deps, referralId).catch((error: unknown) => {
          deps.logger.warn({ err: error, referralId }, 'live state unavailable');
          return undefined;
        }),
  ]);
  if (!view) throw new IntakeError('not_found', `no referral ${referralId}`);
  return { ...view, live: live ?? null, timeline: timeline.map(timelineItem) };
}

/**
 * Cancels a live referral as `actor`, once per requestId (see performAdminAction). A caller without one (the API always
 * has one) gets a fresh id: the cancel is kept and audited like any other, but a retry of the call is another request.
 */
export const cancelReferral = (
  deps: IntakeDependencies,
  request: { referralId: string; actor: string; reason?: string | undefined; requestId?: string | undefined },
): Promise<AdminActionOutcome> =>
  performAdminAction(deps, {
    action: 'cancel',
    referralId: request.referralId,
    actor: request.actor,
    reason: request.reason,
    requestId: request.requestId ?? randomUUID(),
  });
