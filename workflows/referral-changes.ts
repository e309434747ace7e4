import { patched } from '@temporalio/workflow';

/**
 * Which changes a referral's run follows. A change to running referrals' logic is made behind a name in PATCHES; each
 * workflow type answers `since(change)` its own way (firstTypeChanges, lifecycleChanges), and the lifecycle asks it
 * wherever the change decides (workflows/referral.ts). Answers are recorded in history (markers), so a run replays
 * with the answers it was given.
 */

/** A run's answer to whether it follows a change listed in PATCHES. */
export type ChangeFollowed = (change: string) => boolean;

/**
 * Every change made to running referrals' logic, by name. The first workflow type (`referralWorkflow`) takes each behind
 * its own `patched()`, but none of a later set's; `referralLifecycle` runs with those it was born with
 * (LIFECYCLE_BORN_WITH), unmarked, and with the later sets' by their markers. One added from now on goes in a new
 * later set (see LIFECYCLE_LATER_CHANGES_4), which firstTypeChanges leaves out too.
 */
export const PATCHES = {
  projectProgress: 'referral-project-progress',
  localActivities: 'referral-local-activities',
  lateEventGrace: 'referral-late-event-grace',
  projectDecided: 'referral-project-decided',
  surfaceFaults: 'referral-surface-faults',
  refereeVoucher: 'referral-referee-voucher',
  referrerPoints: 'referral-referrer-points',
  milestone: 'referral-milestone',
  surfaceLocalFaults: 'referral-surface-local-faults',
  graceByBusinessTime: 'referral-grace-by-business-time',
  closedInProjection: 'referral-closed-in-projection',
  milestoneCountsLateWindowOrders: 'referral-milestone-counts-late-window-orders',
  voidVoucherOnFault: 'referral-void-voucher-on-fault',
  fraudReview: 'referral-fraud-review',
  tierMultiplier: 'referral-tier-multiplier',
  ordersAfterEnd: 'referral-orders-after-end',
  ordersByReport: 'referral-orders-by-report-time',
  dueWithoutTimer: 'referral-due-without-timer',
  signupTimerKept: 'referral-signup-timer-kept',
  lateLossCountsWindowOrders: 'referral-late-loss-counts-window-orders',
  movesJudgeAtHold: 'referral-moves-judge-at-hold',
  voucherInJoinedWrites: 'referral-voucher-in-joined-writes',
  progressWrittenLocally: 'referral-progress-written-locally',
  progressCorrectedWhenMoved: 'referral-progress-corrected-when-moved',
  closedWithFailedEnd: 'referral-closed-with-failed-end',
} as const;

/**
 * Referrals started before `referralLifecycle` existed (`referralWorkflow`): every change since they began is taken
 * behind `patched()`, so their histories replay as they were made; the later sets' changes are not taken at all (their
 * next continue-as-new carries them over to the new type).
 */
export function firstTypeChanges(): ChangeFollowed {
  return (change) =>
    !LIFECYCLE_LATER_CHANGES_2.changes.has(change) &&
    !LIFECYCLE_LATER_CHANGES_3.changes.has(change) &&
    !LIFECYCLE_LATER_CHANGES_4.changes.has(change) &&
    patched(change);
}

/**
 * The referral's lifecycle as referrals start now (`referralLifecycle`): every change in PATCHES in force without a
 * marker of its own. A patch costs each history two events (its marker and a search attribute upsert), a fifth of a
 * short referral's history. The changes made since the type was first run are taken all at once, with one marker
 * decided first thing in the first task (LIFECYCLE_LATER_CHANGES, then _2, _3 and _4), by the runs that begin with it:
 * so this is called first thing in the workflow, before anything else is asked.
 */
export function lifecycleChanges(): ChangeFollowed {
  // A new run records the newest set's marker alone: the newer set holds every change of the older.
  const bornWithLaterChanges4 = patched(LIFECYCLE_LATER_CHANGES_4.marker);
  const bornWithLaterChanges3 = bornWithLaterChanges4 || patched(LIFECYCLE_LATER_CHANGES_3.marker);
  const bornWithLaterChanges2 = bornWithLaterChanges3 || patched(LIFECYCLE_LATER_CHANGES_2.marker);
  const bornWithLaterChanges = bornWithLaterChanges2 || patched(LIFECYCLE_LATER_CHANGES.marker);
  return (change) => {
    if (LIFECYCLE_LATER_CHANGES_4.changes.has(change)) return bornWithLaterChanges4;
    if (LIFECYCLE_LATER_CHANGES_3.changes.has(change)) return bornWithLaterChanges3;
    if (LIFECYCLE_LATER_CHANGES_2.changes.has(change)) return bornWithLaterChanges2;
    return (
      LIFECYCLE_BORN_WITH.has(change) ||
      (bornWithLaterChanges && LIFECYCLE_LATER_CHANGES.changes.has(change)) ||
      patched(change)
    );
  };
}

/**
 * The changes `referralLifecycle` has had from its first run: all of PATCHES when it was made. Listed, not derived,
 * so that a change added to PATCHES later is taken with `patched()` in this type too and its open runs replay.
 */
const LIFECYCLE_BORN_WITH: ReadonlySet<string> = new Set([
  PATCHES.projectProgress,
  PATCHES.localActivities,
  PATCHES.lateEventGrace,
  PATCHES.projectDecided,
  PATCHES.surfaceFaults,
  PATCHES.refereeVoucher,
  PATCHES.referrerPoints,
  PATCHES.milestone,
  PATCHES.surfaceLocalFaults,
  PATCHES.graceByBusinessTime,
  PATCHES.closedInProjection,
  PATCHES.milestoneCountsLateWindowOrders,
  PATCHES.voidVoucherOnFault,
  PATCHES.fraudReview,
  PATCHES.tierMultiplier,
  PATCHES.ordersAfterEnd,
  PATCHES.ordersByReport,
  PATCHES.dueWithoutTimer,
]);

/**
 * The changes made to `referralLifecycle` after its first run, each taken with its own `patched()` by the runs that
 * began before this set; a run that begins with the set's marker has them all from its first task. A change decided
 * by its own marker can be decided too late: when it is first asked right after a local activity's result, and the
 * worker sent the task on with that result in it, a replay takes the result, and asks, in the earlier task, where the
 * marker is not yet known (the referral stops for good). The changes made after these are in LIFECYCLE_LATER_CHANGES_2.
 */
const LIFECYCLE_LATER_CHANGES = {
  marker: 'referral-lifecycle-later-changes-1',
  changes: new Set<string>([
    PATCHES.signupTimerKept,
    PATCHES.lateLossCountsWindowOrders,
    PATCHES.movesJudgeAtHold,
    PATCHES.voucherInJoinedWrites,
  ]),
} as const;

/**
 * The changes made after set 1, taken only by the runs that begin with this set's marker (which holds set 1's changes
 * too). A run begun before keeps the earlier behaviour to its end or to its continue-as-new, whose new run begins with
 * the newest set. None of them is ever asked on its own, so no marker of theirs can land outside the task that decided
 * it.
 */
const LIFECYCLE_LATER_CHANGES_2 = {
  marker: 'referral-lifecycle-later-changes-2',
  changes: new Set<string>([PATCHES.progressWrittenLocally]),
} as const;

/**
 * The changes made after set 2, taken as set 2's are, by the runs that begin with this marker (which holds the changes
 * of sets 1 and 2 too).
 */
const LIFECYCLE_LATER_CHANGES_3 = {
  marker: 'referral-lifecycle-later-changes-3',
  changes: new Set<string>([PATCHES.progressCorrectedWhenMoved]),
} as const;

/**
 * The changes made after set 3, taken as set 2's are, by the runs that begin with this marker (which holds the changes
 * of sets 1 to 3 too). A change added from now on goes in a fifth set (`-5`, asked first in lifecycleChanges, holding
 * this one's, and left out by firstTypeChanges).
 */
const LIFECYCLE_LATER_CHANGES_4 = {
  marker: 'referral-lifecycle-later-changes-4',
  changes: new Set<string>([PATCHES.closedWithFailedEnd]),
} as const;
