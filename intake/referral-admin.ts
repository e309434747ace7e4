import { findReferral, findTimeline } from '../db/referrals';
import type { TimelineRow } from '../db/schema';
import { cancelUpdate } from '../workflows/messages';
import { referralWorkflowId, type ReferralSnapshot } from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { loadReferralView, queryLiveState } from './referral-lookup';
import { referralViewFromRow, type ReferralView } from './referral-view';
import { callWorkflow, refusalFromWorkflow } from './workflow-failures';

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

/** Cancels a live referral as `actor`; the workflow answers once the cancellation is in the projection. */
export async function cancelReferral(
  deps: IntakeDependencies,
  request: { referralId: string; actor: string; reason?: string | undefined },
): Promise<ReferralView> {
  if (!(await findReferral(deps.db, request.referralId)))
    throw new IntakeError('not_found', `no referral ${request.referralId}`);
  let outcome: ReferralSnapshot;
  try {
    outcome = await callWorkflow(deps, () =>
      deps.temporal.workflow
        .getHandle(referralWorkflowId(request.referralId))
        .executeUpdate(cancelUpdate, { args: [{ actor: request.actor, reason: request.reason }] }),
    );
  } catch (error) {
    throw refusalFromWorkflow(error) ?? error;
  }
  // Accepted while the referral was reaching another end (its completion being written): that end stands.
  if (outcome.status !== 'cancelled')
    throw new IntakeError('referral_closed', `the referral ended as ${outcome.status} before the cancel could apply`);
  deps.logger.info(
    { actor: request.actor, referralId: request.referralId, reason: request.reason },
    'referral cancelled',
  );
  return referralViewFromRow((await findReferral(deps.db, request.referralId))!);
}
