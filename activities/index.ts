import type { DB } from '../db/connection';
import { createAdminActionActivities } from './admin-actions';
import { classifyDatabaseFaults } from './database-faults';
import { createFaultActivities } from './faults';
import { createInboxActivities } from './inbox';
import { createReferralActivities } from './referrals';
import { createReferrerCompletionActivities } from './referrer-completions';
import { createTermsMoveActivities } from './term-moves';
import { createVoucherActivities } from './vouchers';

export interface ActivityDependencies {
  db: DB;
}

/**
 * Every activity the worker registers, grouped by the resource it writes. A database error no retry can fix leaves
 * each of them as a non-retryable failure with a named type.
 */
export function createActivities(deps: ActivityDependencies) {
  return classifyDatabaseFaults({
    ...createReferralActivities(deps),
    ...createInboxActivities(deps),
    ...createFaultActivities(deps),
    ...createVoucherActivities(deps),
    ...createAdminActionActivities(deps),
    ...createReferrerCompletionActivities(deps),
    ...createTermsMoveActivities(deps),
  });
}

export type ReferralActivities = ReturnType<typeof createActivities>;
