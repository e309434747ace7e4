import type { Migration } from 'kysely';
import * as createPrograms from './2026_11_23_0001_create_programs';
import * as createCustomers from './2026_11_23_0002_create_customers';
import * as createReferrals from './2026_11_23_0003_create_referrals';
import * as createInboxEvents from './2026_11_23_0004_create_inbox_events';
import * as scheduleInboxRedelivery from './2026_11_25_0005_schedule_inbox_redelivery';
import * as createClaimRequests from './2026_11_25_0006_create_claim_requests';
import * as createReferralFaults from './2026_11_25_0007_create_referral_faults';
import * as createPointsLedger from './2026_11_25_0008_create_points_ledger';
import * as createVouchers from './2026_11_25_0009_create_vouchers';
import * as recordReferralClosed from './2026_11_25_0011_record_referral_closed';
import * as indexRequestQueries from './2026_11_25_0012_index_request_queries';
import * as indexUnreferredOrders from './2026_11_25_0013_index_unreferred_orders';
import * as listReferrals from './2026_11_25_0014_list_referrals';
import * as createAdminAudit from './2026_11_25_0020_create_admin_audit';
import * as createAdminRequests from './2026_11_25_0021_create_admin_requests';
import * as createCustomerContexts from './2026_11_25_0022_create_customer_contexts';
import * as createReferrerCompletions from './2026_11_25_0023_create_referrer_completions';
import * as orderReviewQueue from './2026_11_25_0024_order_review_queue';
import * as createTermMoves from './2026_11_25_0025_create_term_moves';
import * as dropUnreadIndexes from './2026_11_25_0026_drop_unread_indexes';
import * as createReferralsCountedEarly from './2026_11_26_0027_create_referrals_counted_early';
import * as earlyCountsCountedAt from './2026_11_26_0028_early_counts_counted_at';
import * as referralsProjectedTaskAt from './2026_11_26_0029_referrals_projected_task_at';

/**
 * Every migration, by name, in the order the names sort. Listed rather than read from the folder so the same
 * runner works under tsx, vitest and a bundle alike; a test checks that no file in this folder is missing here.
 */
export const migrations: Record<string, Migration> = {
  '2026_11_23_0001_create_programs': createPrograms,
  '2026_11_23_0002_create_customers': createCustomers,
  '2026_11_23_0003_create_referrals': createReferrals,
  '2026_11_23_0004_create_inbox_events': createInboxEvents,
  '2026_11_25_0005_schedule_inbox_redelivery': scheduleInboxRedelivery,
  '2026_11_25_0006_create_claim_requests': createClaimRequests,
  '2026_11_25_0007_create_referral_faults': createReferralFaults,
  '2026_11_25_0008_create_points_ledger': createPointsLedger,
  '2026_11_25_0009_create_vouchers': createVouchers,
  '2026_11_25_0011_record_referral_closed': recordReferralClosed,
  '2026_11_25_0012_index_request_queries': indexRequestQueries,
  '2026_11_25_0013_index_unreferred_orders': indexUnreferredOrders,
  '2026_11_25_0014_list_referrals': listReferrals,
  '2026_11_25_0020_create_admin_audit': createAdminAudit,
  '2026_11_25_0021_create_admin_requests': createAdminRequests,
  '2026_11_25_0022_create_customer_contexts': createCustomerContexts,
  '2026_11_25_0023_create_referrer_completions': createReferrerCompletions,
  '2026_11_25_0024_order_review_queue': orderReviewQueue,
  '2026_11_25_0025_create_term_moves': createTermMoves,
  '2026_11_25_0026_drop_unread_indexes': dropUnreadIndexes,
  '2026_11_26_0027_create_referrals_counted_early': createReferralsCountedEarly,
  '2026_11_26_0028_early_counts_counted_at': earlyCountsCountedAt,
  '2026_11_26_0029_referrals_projected_task_at': referralsProjectedTaskAt,
};
