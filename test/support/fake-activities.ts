import type { ReferralActivities } from '../../activities';
import type { ReferralFaultRecord } from '../../activities/faults';
import type { ProjectReferralInput, RegistrationOutcome } from '../../activities/referrals';
import { REFUSALS, type OrderFacts } from '../../workflows/shared';

/** Typed stand-ins for the activities that remember what the workflow asked of them. */
export function fakeActivities(
  options: {
    earlyOrders?: OrderFacts[];
    alreadyReferred?: string[];
    /** runs inside projectReferral before it records, e.g. to make one projection slow */
    beforeProjection?: (input: ProjectReferralInput) => Promise<void>;
    /** runs inside projectReferral after it recorded, e.g. to hang a write that has landed (a worker about to die) */
    afterProjection?: (input: ProjectReferralInput) => Promise<void>;
    /** where projections are recorded: share one between workers to stand for one database */
    projections?: ProjectReferralInput[];
    /** an error projectReferral throws for this write instead of recording it (e.g. a non-retryable data error) */
    failProjection?: (input: ProjectReferralInput) => Error | undefined;
    /** runs inside registerReferee before it answers */
    beforeRegistration?: () => Promise<void>;
  } = {},
) {
  const projections: ProjectReferralInput[] = options.projections ?? [];
  const registrations: string[] = [];
  const faults: ReferralFaultRecord[] = [];
  const releases: { referralId: string; refereeId: string }[] = [];
  let inFlight = 0;
  const tracked = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      inFlight += 1;
      try {
        return await fn(...args);
      } finally {
        inFlight -= 1;
      }
    };
  const activities: ReferralActivities = {
    projectReferral: tracked(async (input: ProjectReferralInput) => {
      await options.beforeProjection?.(input);
      const failure = options.failProjection?.(input);
      if (failure) throw failure;
      projections.push(input);
      await options.afterProjection?.(input);
    }),
    registerReferee: tracked(async ({ referrerId, signup }: Parameters<ReferralActivities['registerReferee']>[0]): Promise<RegistrationOutcome> => {
      await options.beforeRegistration?.();
      if (signup.refereeId === referrerId) {
        return { outcome: 'refused', code: REFUSALS.selfReferral, detail: 'a customer cannot use their own code' };
      }
      if (options.alreadyReferred?.includes(signup.refereeId)) {
        return { outcome: 'refused', code: REFUSALS.alreadyReferred, detail: 'already referred' };
      }
      registrations.push(signup.refereeId);
      return { outcome: 'registered' };
    }),
    takeOrdersAwaitingSignup: tracked(async () => options.earlyOrders ?? []),
    releaseReferee: tracked(async (reservation: { referralId: string; refereeId: string }) => {
      const reserved = registrations.includes(reservation.refereeId);
      releases.push(reservation);
      return { released: reserved };
    }),
    recordReferralFault: tracked(async (fault: ReferralFaultRecord) => {
      if (!faults.some((f) => f.faultId === fault.faultId)) faults.push(fault);
    }),
  };
  return {
    activities,
    projections,
    registrations,
    faults,
    releases,
    /** activities running right now */
    inFlight: () => inFlight,
    statuses: () => projections.map((p) => p.referral.status),
    kinds: () => projections.map((p) => p.entry.kind),
  };
}

/**
 * What the recorded writes leave in the database, by projectReferral's rules: the row is the write with the highest
 * seq (a later write of the same seq replaces it), each timeline entry the last write of its seq that the row took.
 */
export function projectedState(projections: readonly ProjectReferralInput[]) {
  let row: ProjectReferralInput | undefined;
  const timeline = new Map<number, ProjectReferralInput['entry']>();
  for (const write of projections) {
    if (row && write.entry.seq < row.entry.seq) continue;
    row = write;
    timeline.set(write.entry.seq, write.entry);
  }
  return { row, timeline: [...timeline.values()].sort((a, b) => a.seq - b.seq) };
}
