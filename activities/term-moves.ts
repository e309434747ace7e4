import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { DB } from '../db/connection';
import { findReferral } from '../db/referrals';
import type { TermMoveItemTable } from '../db/schema';
import {
  finishTermsMove,
  findTermsMovedEntry,
  lockReferralRow,
  recordTermsMoveItem,
  screenForMove,
  selectTermsMoveCandidates,
  termsMoveChanges,
  termsMoveRequestId,
  type TermsMoveCandidates,
} from '../db/term-moves';
import { moveTermsUpdate } from '../workflows/messages';
import { referralWorkflowId, REFUSALS, type ProgramSnapshot } from '../workflows/shared';
import { TERMS_MOVE_REFUSALS, type TermsMoveSelection } from '../workflows/terms-move';

export interface MoveReferralInput {
  moveId: string;
  referralId: string;
  program: ProgramSnapshot;
  selection: TermsMoveSelection;
  actor: string;
  reason: string | null;
}

export interface MoveReferralOutcome {
  outcome: TermMoveItemTable['outcome'];
  code: string | null;
}

const REFUSAL_CODES = new Set<string>(Object.values(TERMS_MOVE_REFUSALS));

export function createTermsMoveActivities({ db }: { db: DB }) {
  /** Writes what the move did to the referral and returns it; a retry writes the same row again. */
  async function settle(
    input: Pick<MoveReferralInput, 'moveId' | 'referralId'>,
    item: {
      outcome: TermMoveItemTable['outcome'];
      fromVersion: number | null;
      code?: string | undefined;
      reason?: string | undefined;
      changes?: Record<string, unknown> | undefined;
    },
    into: DB = db,
  ): Promise<MoveReferralOutcome> {
    await recordTermsMoveItem(into, {
      move_id: input.moveId,
      referral_id: input.referralId,
      outcome: item.outcome,
      from_version: item.fromVersion,
      code: item.code ?? null,
      reason: item.reason ?? null,
      changes: item.changes ?? null,
      at: new Date(),
    });
    return { outcome: item.outcome, code: item.code ?? null };
  }

  /**
   * One referral's part of a move: the moveTerms update of its workflow, once per move whatever retries (the update
   * carries the move's request id, and a step that finds the move already on the referral's timeline reports it).
   * What it did is kept as the move's item for the referral.
   */
  async function moveOne(input: MoveReferralInput): Promise<MoveReferralOutcome> {
    const requestId = termsMoveRequestId(input.moveId);
    // Moved by an earlier attempt of this step, whatever became of the referral since: the timeline says what changed.
    const applied = await findTermsMovedEntry(db, input.referralId, requestId);
    if (applied) {
      const fromVersion = typeof applied.detail?.fromVersion === 'number' ? applied.detail.fromVersion : null;
      return settle(input, { outcome: 'moved', fromVersion, changes: termsMoveChanges(applied.detail) });
    }
    const row = await findReferral(db, input.referralId);
    const screened = screenForMove(row, input.program, input.selection);
    if (screened) return settle(input, { outcome: 'skipped', fromVersion: row?.program_version ?? null, ...screened });
    const fromVersion = row!.program_version;
    const context = Context.current();
    try {
      // A try the server gave up on (its heartbeat missed) stops waiting; the next one reaches the same update.
      await context.client.withAbortSignal(context.cancellationSignal, () =>
        context.client.workflow.getHandle(referralWorkflowId(input.referralId)).executeUpdate(moveTermsUpdate, {
          updateId: requestId,
          args: [
            {
              requestId,
              actor: input.actor,
              program: input.program,
              ...(input.reason !== null ? { reason: input.reason } : {}),
            },
          ],
        }),
      );
    } catch (error) {
      const refusal = refusalOf(error);
      if (!refusal) throw error;
      return settle(input, { outcome: 'skipped', fromVersion, ...refusal });
    }
    const entry = await findTermsMovedEntry(db, input.referralId, requestId);
    return settle(input, { outcome: 'moved', fromVersion, changes: termsMoveChanges(entry?.detail) });
  }

  return {
    /** The next page of the programme's open referrals a move's selection takes (see selectTermsMoveCandidates). */
    async selectTermsMoveCandidates(query: {
      programId: string;
      toVersion: number;
      selection: TermsMoveSelection;
      after: { createdAt: string; id: string } | null;
      limit: number;
    }): Promise<TermsMoveCandidates> {
      return selectTermsMoveCandidates(db, query);
    },

    moveReferralToTerms: (input: MoveReferralInput): Promise<MoveReferralOutcome> => whileAlive(() => moveOne(input)),

    /**
     * A referral the move could not reach for its whole budget: kept as failed, with why, and the move goes on. The
     * budget can run out after the update was admitted, so a referral whose timeline shows the move is kept as moved;
     * a try still running that settles it moved later wins over this (recordTermsMoveItem).
     */
    async recordTermsMoveFailure(input: { moveId: string; referralId: string; error: string }): Promise<void> {
      // Checked and written under the referral's row lock, which projectReferral takes first in the transaction that
      // writes the terms_moved entry and settles a failed item as moved (settleFailedItemAsMoved). Checked apart from
      // the write, a projection committing in between found no failed item to settle and left this one failed though
      // the referral moved. Under the lock, either the projection commits first and the check, a later statement
      // (read committed: it sees what committed before it), finds its entry; or this commits first and the projection,
      // let through, settles the failed item it then finds. A referral with no row yet has no terms_moved entry on the
      // way: a move only asks referrals the projection holds.
      await db.transaction().execute(async (trx) => {
        const row = await lockReferralRow(trx, input.referralId);
        const applied = await findTermsMovedEntry(trx, input.referralId, termsMoveRequestId(input.moveId));
        if (applied) {
          const fromVersion = typeof applied.detail?.fromVersion === 'number' ? applied.detail.fromVersion : null;
          await settle(input, { outcome: 'moved', fromVersion, changes: termsMoveChanges(applied.detail) }, trx);
          return;
        }
        await settle(
          input,
          {
            outcome: 'failed',
            fromVersion: row?.program_version ?? null,
            code: 'unreachable',
            reason: input.error.slice(0, 2_000),
          },
          trx,
        );
      });
    },

    async finishTermsMove({ moveId }: { moveId: string }): Promise<void> {
      await finishTermsMove(db, moveId, new Date());
    },
  };
}

/** How often a step says it is alive: well inside the step's heartbeat timeout (terms-move-batch.ts, 10 s). */
const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Runs `work` heartbeating: a step can wait on its referral's workflow for as long as its try lasts, and the heartbeat
 * is what tells the server the worker running it is still there.
 */
async function whileAlive<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const beat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

/** The workflow's refusal of the move, with the rule's code; undefined for anything that is not one. */
function refusalOf(error: unknown): { code: string; reason: string } | undefined {
  if (error instanceof WorkflowNotFoundError)
    return { code: TERMS_MOVE_REFUSALS.ended, reason: 'the referral has ended' };
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure)) return undefined;
  const { type, message } = error.cause;
  if (type === REFUSALS.closed) return { code: TERMS_MOVE_REFUSALS.ended, reason: message };
  if (type !== REFUSALS.invalidTransition) return undefined;
  return refusalFromMessage(message);
}

/** The rule's refusals start with their code (referral.ts); the others (ended, stopping) are the referral's state. */
export function refusalFromMessage(message: string): { code: string; reason: string } {
  const code = /^([a-z_]+): /.exec(message)?.[1];
  return code && REFUSAL_CODES.has(code)
    ? { code, reason: message.slice(code.length + 2) }
    : { code: TERMS_MOVE_REFUSALS.ended, reason: message };
}
