import { proxyActivities } from '@temporalio/workflow';
import type { ReferralActivities } from '../activities';
import { requireDurationMs } from './durations';

/**
 * One pass of the inbox's retention, started by the `inbox-retention` Temporal Schedule (runtime/inbox-retention.ts):
 * orders of customers nobody referred are kept for `retention`, then deleted in batches. Bounded: a backlog larger
 * than one pass's batches is left to the next pass.
 */
const { purgeUnreferredOrders } = proxyActivities<ReferralActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

export interface InboxRetentionInput {
  /** how long an order of a customer nobody referred is kept, e.g. `90 days` */
  retention: string;
  batchSize?: number;
  maxBatches?: number;
}

export async function inboxRetentionWorkflow(input: InboxRetentionInput): Promise<{ purged: number }> {
  const receivedBefore = new Date(Date.now() - requireDurationMs(input.retention)).toISOString();
  const batchSize = input.batchSize ?? 1_000;
  const maxBatches = input.maxBatches ?? 100;
  let purged = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const deleted = await purgeUnreferredOrders({ receivedBefore, limit: batchSize });
    purged += deleted;
    if (deleted < batchSize) break;
  }
  return { purged };
}
