import { findReferral } from '../db/referrals';
import { stateQuery } from '../workflows/messages';
import { referralWorkflowId, type ReferralSnapshot } from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { referralViewFromRow, referralViewFromSnapshot, type ReferralView } from './referral-view';
import { callWorkflow, isWorkflowGone } from './workflow-failures';

/** The workflow's live state, or undefined when there is no such workflow. */
export async function queryLiveState(
  deps: IntakeDependencies,
  referralId: string,
): Promise<ReferralSnapshot | undefined> {
  try {
    return await callWorkflow(deps, () =>
      deps.temporal.workflow.getHandle(referralWorkflowId(referralId)).query(stateQuery),
    );
  } catch (error) {
    if (isWorkflowGone(error)) return undefined;
    throw error;
  }
}

/**
 * A referral as readers see it: the projection, or, in the milliseconds between a workflow's start and its first
 * projection write, the workflow's own state, so a claim can be read (or signed up to) at once.
 */
export async function loadReferralView(
  deps: IntakeDependencies,
  referralId: string,
): Promise<ReferralView | undefined> {
  const row = await findReferral(deps.db, referralId);
  if (row) return referralViewFromRow(row);
  const live = await queryLiveState(deps, referralId);
  // A workflow started by a signup that has not registered yet has written nothing: it is not a referral yet.
  if (!live || live.recentTimeline.length === 0) return undefined;
  return referralViewFromSnapshot(live, null, deps.clock().toISOString());
}
