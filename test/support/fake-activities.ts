import type { ReferralActivities } from '../../activities';
import type { ProjectReferralInput, RegistrationOutcome } from '../../activities/referrals';
import { REFUSALS, type OrderFacts } from '../../workflows/shared';

/** Typed stand-ins for the activities that remember what the workflow asked of them. */
export function fakeActivities(options: { earlyOrders?: OrderFacts[]; alreadyReferred?: string[] } = {}) {
  const projections: ProjectReferralInput[] = [];
  const registrations: string[] = [];
  const activities: ReferralActivities = {
    async projectReferral(input) {
      projections.push(input);
    },
    async registerReferee({ referrerId, signup }): Promise<RegistrationOutcome> {
      if (signup.refereeId === referrerId) {
        return { outcome: 'refused', code: REFUSALS.selfReferral, detail: 'a customer cannot use their own code' };
      }
      if (options.alreadyReferred?.includes(signup.refereeId)) {
        return { outcome: 'refused', code: REFUSALS.alreadyReferred, detail: 'already referred' };
      }
      registrations.push(signup.refereeId);
      return { outcome: 'registered' };
    },
    async takeOrdersAwaitingSignup() {
      return options.earlyOrders ?? [];
    },
  };
  return {
    activities,
    projections,
    registrations,
    statuses: () => projections.map((p) => p.referral.status),
    kinds: () => projections.map((p) => p.entry.kind),
  };
}
