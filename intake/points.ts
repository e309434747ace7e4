import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  adjustmentKey,
  debitPoints,
  findAdjustment,
  findBalance,
  findCustomerPoints,
  findLotByCreditKey,
  redeemPoints,
  reverseRedemption,
  type Taken,
} from '../db/ledger';
import type { PointLot } from '../db/schema';
import { creditLotUpdate } from '../workflows/lot-messages';
import { pointLotWorkflowId, type CreditedLot, type LotCreditRequest } from '../workflows/lot-shared';
import { DEFAULT_POINT_VALIDITY, DEFAULT_TIME_ZONE, lotExpiresAt } from '../workflows/point-validity';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { uuidFromKey } from './ids';
import { callWorkflow } from './workflow-failures';

/** A lot as the commerce backend sees it. */
export interface LotView {
  lotId: string;
  points: number;
  remaining: number;
  creditedAt: string;
  expiresAt: string;
  expired: boolean;
  source: { kind: PointLot['source_kind']; referralId: string | null };
}

export interface PointsView {
  customerId: string;
  balance: number;
  lots: LotView[];
  /** points in live lots that expire within the next 30 days */
  expiringWithin30Days: number;
  nextExpiry: { at: string; points: number } | null;
}

const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000;

export const lotView = (lot: PointLot): LotView => ({
  lotId: lot.id,
  points: lot.points,
  remaining: lot.remaining,
  creditedAt: lot.credited_at.toISOString(),
  expiresAt: lot.expires_at.toISOString(),
  expired: lot.expired_at !== null,
  source: { kind: lot.source_kind, referralId: lot.referral_id },
});

/** A customer's balance and lots, with what is about to expire. */
export async function readPoints(deps: IntakeDependencies, customerId: string): Promise<PointsView> {
  const points = await findCustomerPoints(deps.db, customerId);
  if (!points) throw new IntakeError('not_found', `no customer ${customerId}`);
  const now = deps.clock().getTime();
  const live = points.lots
    .filter((lot) => lot.expired_at === null && lot.remaining > 0 && lot.expires_at.getTime() > now)
    .sort((a, b) => a.expires_at.getTime() - b.expires_at.getTime());
  const soonest = live[0]?.expires_at.getTime();
  return {
    customerId,
    balance: points.balance,
    lots: points.lots.map(lotView),
    expiringWithin30Days: live
      .filter((lot) => lot.expires_at.getTime() <= now + THIRTY_DAYS_MS)
      .reduce((sum, lot) => sum + lot.remaining, 0),
    nextExpiry:
      soonest === undefined
        ? null
        : {
            at: new Date(soonest).toISOString(),
            points: live
              .filter((lot) => lot.expires_at.getTime() === soonest)
              .reduce((sum, lot) => sum + lot.remaining, 0),
          },
  };
}

export interface RedemptionResult {
  redemptionId: string;
  points: number;
  balance: number;
  takenFrom: Taken[];
  duplicate: boolean;
  /** on a duplicate only: the redemption was reversed since, so what takenFrom names is back in its lots */
  reversed?: true;
}

/** Takes points at checkout, soonest-expiring lots first; the same redemptionId again answers the first result. */
export async function redeem(
  deps: IntakeDependencies,
  request: { customerId: string; redemptionId: string; points: number },
): Promise<RedemptionResult> {
  const outcome = await redeemPoints(deps.db, { ...request, now: deps.clock() });
  switch (outcome.outcome) {
    case 'unknown_customer':
      throw new IntakeError('not_found', `no customer ${request.customerId}`);
    case 'conflict':
      throw new IntakeError(
        'idempotency_conflict',
        `redemptionId ${request.redemptionId} was already used for ${outcome.redemption.points} points`,
      );
    case 'insufficient':
      throw new IntakeError(
        'insufficient_points',
        `the customer has ${outcome.balance} points that can be redeemed now; ${request.points} asked`,
      );
    case 'redeemed':
      deps.logger.info(
        {
          customerId: request.customerId,
          redemptionId: request.redemptionId,
          points: request.points,
          duplicate: outcome.duplicate,
        },
        'points redeemed',
      );
      return {
        redemptionId: request.redemptionId,
        points: outcome.redemption.points,
        balance: outcome.balance,
        takenFrom: outcome.redemption.taken_from,
        duplicate: outcome.duplicate,
        ...(outcome.redemption.reversed_at ? { reversed: true as const } : {}),
      };
  }
}

/** Gives a redemption's points back to the lots they came from; repeatable. */
export async function reverse(
  deps: IntakeDependencies,
  request: { customerId: string; redemptionId: string },
): Promise<{ redemptionId: string; reversed: true; balance: number }> {
  const outcome = await reverseRedemption(deps.db, { ...request, now: deps.clock() });
  if (outcome.outcome === 'not_found') {
    throw new IntakeError('not_found', `customer ${request.customerId} has no redemption ${request.redemptionId}`);
  }
  deps.logger.info({ ...request, duplicate: outcome.duplicate }, 'redemption reversed');
  return { redemptionId: request.redemptionId, reversed: true, balance: outcome.balance };
}

export interface AdjustmentResult {
  adjustmentId: string;
  points: number;
  balance: number;
  /** the lot a credit made; null for a debit */
  lot: LotView | null;
  takenFrom: Taken[];
  duplicate: boolean;
}

/**
 * An admin's correction as `actor`, idempotent by adjustmentId. A credit is a lot valid for `validity` (6 calendar
 * months, UTC, unless said), credited by the lot's own workflow, which then holds its expiry timer: one call starts it
 * and books the credit (update-with-start), so there is never a lot without its timer. A debit takes from the
 * soonest-expiring lots.
 */
export async function adjust(
  deps: IntakeDependencies,
  request: {
    customerId: string;
    adjustmentId: string;
    points: number;
    reason: string;
    actor: string;
    validity?: string | undefined;
  },
): Promise<AdjustmentResult> {
  const earlier = await findAdjustment(deps.db, request.customerId, request.adjustmentId);
  if (earlier) {
    const bookedPoints = earlier.kind === 'credit' ? earlier.lot.points : earlier.points;
    if (bookedPoints !== request.points) {
      throw new IntakeError(
        'idempotency_conflict',
        `adjustmentId ${request.adjustmentId} was already used for ${bookedPoints} points`,
      );
    }
  }
  const now = deps.clock();
  if (request.points < 0) {
    const outcome = await debitPoints(deps.db, { ...request, now });
    switch (outcome.outcome) {
      case 'unknown_customer':
        throw new IntakeError('not_found', `no customer ${request.customerId}`);
      case 'conflict':
        throw new IntakeError(
          'idempotency_conflict',
          `adjustmentId ${request.adjustmentId} was already used for other points`,
        );
      case 'insufficient':
        throw new IntakeError(
          'insufficient_points',
          `the customer has ${outcome.balance} points to take from; a debit of ${-request.points} is more`,
        );
      case 'debited':
        deps.logger.info({ ...request, duplicate: outcome.duplicate }, 'points adjusted');
        return {
          adjustmentId: request.adjustmentId,
          points: request.points,
          balance: outcome.balance,
          lot: null,
          takenFrom: outcome.takenFrom,
          duplicate: outcome.duplicate,
        };
    }
  }

  if ((await findBalance(deps.db, request.customerId)) === undefined)
    throw new IntakeError('not_found', `no customer ${request.customerId}`);
  const validity = request.validity ?? DEFAULT_POINT_VALIDITY;
  const credit: LotCreditRequest = {
    customerId: request.customerId,
    points: request.points,
    creditedAt: now.toISOString(),
    expiresAt: lotExpiresAt(now.toISOString(), validity, DEFAULT_TIME_ZONE),
    source: { kind: 'adjustment' },
    actor: request.actor,
    reason: request.reason,
    creditKey: adjustmentKey(request.customerId, request.adjustmentId),
  };
  const lot = earlier?.kind === 'credit' ? earlier.lot : await creditThroughLotWorkflow(deps, credit);
  // Two requests under one adjustmentId can both miss the lookup above and share one lot's workflow: the lot holds
  // whichever credit came first, and the other request was not booked.
  if (lot.source_kind !== 'adjustment' || lot.points !== request.points) {
    throw new IntakeError(
      'idempotency_conflict',
      `adjustmentId ${request.adjustmentId} was already used for ${lot.points} points`,
    );
  }
  const balance = (await findBalance(deps.db, request.customerId)) ?? 0;
  deps.logger.info({ ...request, lotId: lot.id, duplicate: earlier !== undefined }, 'points adjusted');
  return {
    adjustmentId: request.adjustmentId,
    points: request.points,
    balance,
    lot: lotView(lot),
    takenFrom: [],
    duplicate: earlier !== undefined,
  };
}

/** Starts the lot's workflow and has it book the credit, in one call; answers the lot as booked. */
async function creditThroughLotWorkflow(deps: IntakeDependencies, credit: LotCreditRequest): Promise<PointLot> {
  const start = new WithStartWorkflowOperation('pointLotWorkflow', {
    taskQueue: deps.taskQueue,
    workflowId: pointLotWorkflowId(uuidFromKey('lot', credit.creditKey)),
    args: [credit],
    // A retry reaches the run its first attempt started.
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  let credited: CreditedLot | undefined;
  try {
    credited = await callWorkflow(deps, () =>
      deps.temporal.workflow.executeUpdateWithStart(creditLotUpdate, { startWorkflowOperation: start }),
    );
  } catch (error) {
    // The lot's workflow has already run its course (its lot expired): the lot it booked is the answer.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  const lot = await findLotByCreditKey(deps.db, credit.creditKey);
  if (!lot) throw new Error(`the lot for ${credit.creditKey}${credited ? ` (${credited.lotId})` : ''} cannot be read`);
  return lot;
}
