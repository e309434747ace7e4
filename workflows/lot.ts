import { allHandlersFinished, condition, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { LedgerActivities } from '../activities/ledger';
import { creditLotUpdate, lotStateQuery } from './lot-messages';
import type { CreditedLot, LotCreditRequest, LotState } from './lot-shared';

/**
 * One lot of points: credited once, then its expiry is a durable timer here, never a cron or a poll. When the timer
 * fires, what is left of the lot expires with a ledger entry, and the workflow ends.
 *
 *   credit -> (sleep until expiresAt) -> expire
 */

// Ledger writes that take milliseconds, idempotent by their keys. A worker that dies mid-write delays the credit or
// the expiry by the timeout, no more; retries with backoff ride out a database failover.
const ledger = proxyActivities<LedgerActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function pointLotWorkflow(request: LotCreditRequest): Promise<LotState> {
  const state: LotState = { lot: null, expiredPoints: null };
  // One credit however many ask for it: the update and the lifecycle below share the same call.
  let crediting: Promise<CreditedLot> | undefined;
  const credit = (): Promise<CreditedLot> =>
    (crediting ??= ledger
      .creditPointLot({ ...request, workflowRunId: workflowInfo().runId })
      .then((lot) => (state.lot = lot)));

  setHandler(lotStateQuery, () => ({ ...state }));
  setHandler(creditLotUpdate, () => credit());

  const lot = await credit();
  const untilExpiry = Date.parse(lot.expiresAt) - Date.now();
  if (untilExpiry > 0) await sleep(untilExpiry);
  state.expiredPoints = (await ledger.expirePointLot({ lotId: lot.lotId, at: new Date().toISOString() })).expired;
  await condition(allHandlersFinished);
  return { ...state };
}
