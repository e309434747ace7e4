import { patched, proxyActivities } from '@temporalio/workflow';
import type { ReferralActivities } from '../activities';
import { requireDurationMs } from './durations';

/**
 * One pass of the inbox's retention, started by the `inbox-retention` Temporal Schedule (runtime/inbox-retention.ts):
 * orders of customers nobody referred are kept for `retention`, then deleted in batches; then the early counts of
 * referrals that never reached the projection. Bounded: a backlog larger than one pass's batches is left to the next
 * pass.
 */
const { purgeUnreferredOrders, purgeLeakedEarlyCounts } = proxyActivities<ReferralActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

/**
 * How old an early count is when the sweep takes it for leaked: a week, not the retention. A referral's first projection
 * write takes its count over seconds after it was written as a rule, and within a day at most (a signup's referral
 * waits that long for its registration); a week leaves room for an outage of days, after which the schedule's catch-up
 * must not drop counts of referrals still on their way. Kept for the retention (months), a leaked count would
 * over-count its referrer's HIGH_VELOCITY for as long as the velocity window reaches back to it.
 */
const EARLY_COUNT_LEAKED_AFTER_MS = 7 * 86_400_000;

export interface InboxRetentionInput {
  /** how long an order of a customer nobody referred is kept, e.g. `90 days` */
  retention: string;
  batchSize?: number;
  maxBatches?: number;
}

export async function inboxRetentionWorkflow(
  input: InboxRetentionInput,
): Promise<{ purged: number; leakedEarlyCounts: number }> {
  const receivedBefore = new Date(Date.now() - requireDurationMs(input.retention)).toISOString();
  const batchSize = input.batchSize ?? 1_000;
  const maxBatches = input.maxBatches ?? 100;
  const inBatches = async (purge: (limit: number) => Promise<number>): Promise<number> => {
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const deleted = await purge(batchSize);
      total += deleted;
      if (deleted < batchSize) break;
    }
    return total;
  };
  const purged = await inBatches((limit) => purgeUnreferredOrders({ receivedBefore, limit }));
  // A pass whose history went past here without the sweep replays without it.
  if (!patched('inbox-retention-early-counts')) return { purged, leakedEarlyCounts: 0 };
  const countedBefore = new Date(Date.now() - EARLY_COUNT_LEAKED_AFTER_MS).toISOString();
  const leakedEarlyCounts = await inBatches((limit) => purgeLeakedEarlyCounts({ countedBefore, limit }));
  return { purged, leakedEarlyCounts };
}
