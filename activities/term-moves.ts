import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { DB } from '../db/connection';
import { findReferral } from '../db/referrals';
import { finishTermsMove, findTermsMovedEntry, recordTermsMoveItem, selectTermsMoveCandidates } from '../db/term-moves';
import type { TermMoveItemTable } from '../db/schema';
import { moveTermsUpdate, termsMovePreviewQuery } from '../workflows/messages';
import { isTerminal, referralWorkflowId, REFUSALS, type ProgramSnapshot } from '../workflows/shared';
import { TERMS_MOVE_REFUSALS, type TermsMoveFilter, type TermsMoveRefusal } from '../workflows/terms-move';

export interface MoveReferralInput {
  moveId: string;
  referralId: string;
  program: ProgramSnapshot;
  dryRun: boolean;
  actor: string;
  reason: string | null;
}

export interface MoveReferralOutcome {
  outcome: TermMoveItemTable['outcome'];
  code: string | null;
}

/** The request id a move's update carries: one per move, so each referral applies a move once. */
export const termsMoveRequestId = (moveId: string): string => `move:${moveId}`;

const REFUSAL_CODES = new Set<string>(Object.values(TERMS_MOVE_REFUSALS));

export function createTermsMoveActivities({ db }: { db: DB }) {
  /** Writes what the move did to the referral and returns it; a retry writes the same row again. */
  async function settle(
    input: MoveReferralInput,
    item: {
      outcome: TermMoveItemTable['outcome'];
      fromVersion: number | null;
      code?: string | undefined;
      reason?: string | undefined;
      changes?: Record<string, unknown> | undefined;
    },
  ): Promise<MoveReferralOutcome> {
    await recordTermsMoveItem(db, {
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

  const refusedOrUnchanged = (code: TermsMoveRefusal) => (code === 'same_version' ? 'unchanged' : 'refused');

  return {
    /** The next page of the programme's open referrals a move's filter selects (see selectTermsMoveCandidates). */
    async selectTermsMoveCandidates(query: {
      programId: string;
      toVersion: number;
      filter: TermsMoveFilter;
      after: { createdAt: string; id: string } | null;
      limit: number;
    }): Promise<Array<{ id: string; createdAt: string }>> {
      return selectTermsMoveCandidates(db, query);
    },

    /**
     * One referral's part of a move: its dry run asks the referral's workflow what the move would change (the same
     * rule the move applies), its real run applies it through the moveTerms update, once per move whatever retries.
     * The outcome is kept as the move's item for the referral.
     */
    async moveReferralToTerms(input: MoveReferralInput): Promise<MoveReferralOutcome> {
      const row = await findReferral(db, input.referralId);
      if (!row)
        return settle(input, { outcome: 'refused', fromVersion: null, code: 'not_found', reason: 'no such referral' });
      const fromVersion = row.program_version;
      if (row.program_id !== input.program.id)
        return settle(input, {
          outcome: 'refused',
          fromVersion,
          code: TERMS_MOVE_REFUSALS.otherProgramme,
          reason: `the referral belongs to programme ${row.program_id}`,
        });
      if (row.closed_at || isTerminal(row.status))
        return settle(input, {
          outcome: 'refused',
          fromVersion,
          code: TERMS_MOVE_REFUSALS.ended,
          reason: `the referral has ended as ${row.status}`,
        });
      const requestId = termsMoveRequestId(input.moveId);
      // Moved by an earlier attempt of this step: the timeline says what changed.
      const applied = await findTermsMovedEntry(db, input.referralId, requestId);
      if (applied)
        return settle(input, {
          outcome: 'moved',
          fromVersion: applied.detail?.fromVersion as number,
          changes: changesOf(applied.detail),
        });
      if (row.program_version === input.program.version)
        return settle(input, {
          outcome: 'unchanged',
          fromVersion,
          code: TERMS_MOVE_REFUSALS.sameVersion,
          reason: `the referral already runs under version ${input.program.version}`,
        });

      const handle = Context.current().client.workflow.getHandle(referralWorkflowId(input.referralId));
      try {
        if (input.dryRun) {
          const plan = await handle.query(termsMovePreviewQuery, input.program, new Date().toISOString());
          return plan.outcome === 'move'
            ? settle(input, {
                outcome: 'would_move',
                fromVersion,
                changes: plan.changes as unknown as Record<string, unknown>,
              })
            : settle(input, {
                outcome: refusedOrUnchanged(plan.code),
                fromVersion,
                code: plan.code,
                reason: plan.reason,
              });
        }
        await handle.executeUpdate(moveTermsUpdate, {
          updateId: requestId,
          args: [
            {
              requestId,
              actor: input.actor,
              program: input.program,
              ...(input.reason !== null ? { reason: input.reason } : {}),
            },
          ],
        });
      } catch (error) {
        const refusal = refusalOf(error);
        if (!refusal) throw error;
        return settle(input, {
          outcome: refusedOrUnchanged(refusal.code as TermsMoveRefusal),
          fromVersion,
          ...refusal,
        });
      }
      const entry = await findTermsMovedEntry(db, input.referralId, requestId);
      return settle(input, { outcome: 'moved', fromVersion, changes: changesOf(entry?.detail) });
    },

    async finishTermsMove({ moveId }: { moveId: string }): Promise<void> {
      await finishTermsMove(db, moveId, new Date());
    },
  };

  /** The workflow's refusal of the move, with the rule's code; undefined for anything that is not one. */
  function refusalOf(error: unknown): { code: string; reason: string } | undefined {
    if (error instanceof WorkflowNotFoundError)
      return { code: TERMS_MOVE_REFUSALS.ended, reason: 'the referral has ended' };
    if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure)) return undefined;
    const { type, message } = error.cause;
    if (type === REFUSALS.closed) return { code: TERMS_MOVE_REFUSALS.ended, reason: message };
    if (type !== REFUSALS.invalidTransition) return undefined;
    // The rule's refusals start with their code (referral.ts); the others (ended, stopping) are the referral's state.
    const code = /^([a-z_]+): /.exec(message)?.[1];
    return code && REFUSAL_CODES.has(code)
      ? { code, reason: message.slice(code.length + 2) }
      : { code: TERMS_MOVE_REFUSALS.ended, reason: message };
  }
}

const changesOf = (detail: Record<string, unknown> | null | undefined): Record<string, unknown> => ({
  deadlines: detail?.deadlines ?? [],
  terms: detail?.terms ?? [],
});
