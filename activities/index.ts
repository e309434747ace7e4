import type { DB } from '../db/connection';
import { createInboxActivities } from './inbox';
import { createReferralActivities } from './referrals';

export interface ActivityDependencies {
  db: DB;
}

/** Every activity the worker registers, grouped by the resource it writes. */
export function createActivities(deps: ActivityDependencies) {
  return {
    ...createReferralActivities(deps),
    ...createInboxActivities(deps),
  };
}

export type ReferralActivities = ReturnType<typeof createActivities>;
