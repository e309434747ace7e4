import { findCustomer } from '../db/customers';
import {
  countReferralsOfReferrer,
  countReferrerCompletions,
  findReferrerProgramTerms,
  type ReferrerStats,
} from '../db/referrals';
import { DEFAULT_TIERS, tierFor, tierTerms } from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { listReferrals, readReferralListCursor, type ReferralPage } from './referral-list';

/** Where a referrer stands: the tier their completed referrals reached, and the one they reach next. */
export interface ReferrerTierView {
  name: string;
  multiplier: number;
  completed: number;
  next: { name: string; minCompleted: number } | null;
}

export interface CustomerReferralsView extends ReferralPage {
  customerId: string;
  tier: ReferrerTierView;
  stats: ReferrerStats;
}

/**
 * A customer as a referrer: their tier, their sent referrals counted by how far they got, and a page of them, newest
 * first. Read in one snapshot, so the counts, the tier and the page describe the same moment.
 */
export async function readCustomerReferrals(
  deps: IntakeDependencies,
  request: { customerId: string; limit: number; cursor?: string | undefined },
): Promise<CustomerReferralsView> {
  const { customerId } = request;
  // The page is the admin list's, narrowed to this referrer; a cursor that list did not give out is refused first,
  // whoever the customer is.
  if (request.cursor !== undefined) readReferralListCursor('referrals', request.cursor);
  return deps.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      if (!(await findCustomer(trx, customerId))) throw new IntakeError('not_found', `no customer ${customerId}`);
      const terms = await findReferrerProgramTerms(trx, customerId);
      const completed = await countReferrerCompletions(trx, customerId);
      // The workflow pays each completion by the tiers of its own programme version; the programme's terms now are
      // what the referrer's next referral runs under.
      const { tier, next } = tierFor(terms ? tierTerms(terms) : DEFAULT_TIERS, completed);
      const stats = await countReferralsOfReferrer(trx, customerId);
      const page = await listReferrals(
        { ...deps, db: trx },
        { referrerId: customerId, limit: request.limit, cursor: request.cursor },
      );
      return {
        customerId,
        tier: {
          name: tier.name,
          multiplier: tier.multiplier,
          completed,
          next: next ? { name: next.name, minCompleted: next.minCompleted } : null,
        },
        stats,
        ...page,
      };
    });
}
