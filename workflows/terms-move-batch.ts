import { ActivityFailure, continueAsNew, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { MoveReferralOutcome } from '../activities/term-moves';
import type { ReferralActivities } from '../activities';
import type { ProgramSnapshot } from './shared';
import type { TermsMoveSelection } from './terms-move';

/**
 * An admin's move of open referrals to another programme version, one referral at a time through the referral's own
 * workflow, which decides by the rule of terms-move.ts. Resumable by construction: its progress is in its history (and
 * carried over when it continues as new), each referral's step is idempotent by the move's id, and the candidates
 * come in an order no move changes.
 */
const { selectTermsMoveCandidates, finishTermsMove, recordTermsMoveFailure } = proxyActivities<ReferralActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
/**
 * One referral's step. It waits on the referral's own workflow, which faults hold up for minutes at a time (its worker
 * killed again and again, Temporal or PostgreSQL away, its tasks retried), and each of those fails a try at once: so
 * it is tried every few seconds, to answer soon after the referral does, for as long as STEP_BUDGET, and only then
 * given up as failed, so one referral that cannot be reached never holds up the others for longer. Its heartbeat lets
 * a step whose worker died be tried again within seconds instead of after its minute. (Options are no part of the
 * replay's determinism check, which compares each activity's id and type: running moves take them up as they go.)
 */
const STEP_BUDGET = '10 minutes';
const { moveReferralToTerms } = proxyActivities<ReferralActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10 seconds',
  scheduleToCloseTimeout: STEP_BUDGET,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 seconds' },
});

export interface TermsMoveInput {
  moveId: string;
  program: ProgramSnapshot;
  selection: TermsMoveSelection;
  actor: string;
  reason: string | null;
  /** referrals read per page (default 100) */
  pageSize?: number | undefined;
  /** history length after which the move continues as new, before the server suggests it (default 5,000) */
  historyEventLimit?: number | undefined;
  /** where a run that continued as new goes on */
  resume?: { after: { createdAt: string; id: string } | null; index: number; reached: number } | undefined;
}

const PAGE_SIZE = 100;
/** Referrals moved at once: enough to hide each update's round trips, few enough to leave the workers to the lifecycle. */
const CONCURRENCY = 8;
const HISTORY_LIMIT = 5_000;

export async function termsMoveWorkflow(input: TermsMoveInput): Promise<{ reached: number }> {
  const { moveId, program, selection, actor, reason } = input;
  let after = input.resume?.after ?? null;
  let index = input.resume?.index ?? 0;
  let reached = input.resume?.reached ?? 0;
  const pageSize = input.pageSize ?? PAGE_SIZE;
  const historyLimit = input.historyEventLimit ?? HISTORY_LIMIT;

  const moveOne = (referralId: string): Promise<MoveReferralOutcome> =>
    moveReferralToTerms({ moveId, referralId, program, selection, actor, reason }).catch(async (error: unknown) => {
      if (!(error instanceof ActivityFailure)) throw error;
      // Out of budget, the step fails with its timeout, the last try's error beneath it.
      const why = lastCause(error).message;
      log.warn('a referral could not be moved', { moveId, referralId, error: why });
      await recordTermsMoveFailure({ moveId, referralId, error: why });
      return { outcome: 'failed', code: 'unreachable' };
    });

  for (;;) {
    let ids: string[];
    if (selection.referralIds) {
      ids = selection.referralIds.slice(index, index + pageSize);
      index += ids.length;
    } else {
      const page = await selectTermsMoveCandidates({
        programId: program.id,
        toVersion: program.version,
        selection,
        after,
        limit: pageSize,
      });
      ids = page.ids;
      after = page.after;
    }
    if (ids.length === 0) break;
    for (let i = 0; i < ids.length; i += CONCURRENCY) {
      const outcomes = await Promise.all(ids.slice(i, i + CONCURRENCY).map(moveOne));
      reached += outcomes.length;
    }
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit) {
      log.info('continuing the move as new to keep its history bounded', { moveId, reached });
      await continueAsNew<typeof termsMoveWorkflow>({ ...input, resume: { after, index, reached } });
    }
  }
  await finishTermsMove({ moveId });
  return { reached };
}

/** The innermost failure: what the step's last try ran into. */
function lastCause(error: Error): Error {
  let found = error;
  while (found.cause instanceof Error) found = found.cause;
  return found;
}
