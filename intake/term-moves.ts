import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { payloadHash } from '../db/inbox';
import { findProgram } from '../db/programs';
import type { TermMoveItemRow, TermMoveRow } from '../db/schema';
import {
  countTermsMoveItems,
  findTermsMove,
  listTermsMoveItems,
  reserveTermsMove,
  type TermsMoveCounts,
} from '../db/term-moves';
import type { TermsMoveInput } from '../workflows/terms-move-batch';
import type { TermsMoveSelection } from '../workflows/terms-move';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { cursorText, decodeCursor, encodeCursor } from './page-cursor';
import { callWorkflow } from './workflow-failures';

export interface TermsMoveRequest {
  programId: string;
  /** the admin's key for the move, and its id */
  requestId: string;
  toVersion: number;
  selection: TermsMoveSelection;
  dryRun: boolean;
  actor: string;
  reason?: string | undefined;
}

export interface TermsMoveView {
  moveId: string;
  programId: string;
  toVersion: number;
  dryRun: boolean;
  status: TermMoveRow['status'];
  selection: TermsMoveSelection;
  actor: string;
  reason: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** referrals reached so far, by outcome */
  counts: { moved: number; wouldMove: number; unchanged: number; refused: number };
}

export const termsMoveWorkflowId = (moveId: string): string => `terms-move-${moveId}`;

/**
 * Starts a move of open referrals to another version of their programme, or its dry run, as a workflow that works
 * through them (workflows/terms-move-batch.ts) while the caller reads its progress. Once per requestId: the same
 * request again answers the move it started (and starts its workflow if an earlier attempt stopped before that);
 * the id reused for another request is a conflict.
 */
export async function startTermsMove(
  deps: IntakeDependencies,
  request: TermsMoveRequest,
): Promise<TermsMoveView & { duplicate: boolean }> {
  const program = await findProgram(deps.db, request.programId);
  if (!program) throw new IntakeError('not_found', `no programme ${request.programId}`);
  const version = program.versions.find((v) => v.version === request.toVersion);
  if (!version)
    throw new IntakeError('validation_failed', `programme ${request.programId} has no version ${request.toVersion}`, [
      { path: 'toVersion', message: `no version ${request.toVersion}` },
    ]);
  checkSelection(request.selection);
  const reason = request.reason ?? null;
  const bodyHash = payloadHash({
    programId: request.programId,
    toVersion: request.toVersion,
    selection: request.selection,
    dryRun: request.dryRun,
    actor: request.actor,
    reason,
  });
  const reserved = await reserveTermsMove(deps.db, {
    moveId: request.requestId,
    programId: request.programId,
    toVersion: request.toVersion,
    dryRun: request.dryRun,
    selection: request.selection,
    actor: request.actor,
    reason,
    bodyHash,
  });
  if (!reserved.created && reserved.move.body_hash !== bodyHash)
    throw new IntakeError('idempotency_conflict', `requestId ${request.requestId} was already used for another move`);
  if (reserved.move.status === 'running') {
    const input: TermsMoveInput = {
      moveId: request.requestId,
      program: { id: program.id, version: version.version, currency: program.currency.trim(), terms: version.terms },
      selection: request.selection,
      dryRun: request.dryRun,
      actor: request.actor,
      reason,
    };
    try {
      await callWorkflow(deps, () =>
        deps.temporal.workflow.start('termsMoveWorkflow', {
          taskQueue: deps.taskQueue,
          workflowId: termsMoveWorkflowId(input.moveId),
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        }),
      );
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    deps.logger.info(
      { actor: request.actor, programId: request.programId, moveId: input.moveId, dryRun: request.dryRun },
      'terms move started',
    );
  }
  return { ...(await viewOf(deps, reserved.move)), duplicate: !reserved.created };
}

/** The rules the API's schemas cannot say. */
function checkSelection(selection: TermsMoveSelection): void {
  const invalid = (path: string, message: string): never => {
    throw new IntakeError('validation_failed', `${path}: ${message}`, [{ path, message }]);
  };
  if ('referralIds' in selection) {
    if (new Set(selection.referralIds).size !== selection.referralIds.length)
      invalid('referralIds', 'lists a referral twice');
    return;
  }
  const { createdFrom, createdTo } = selection.filter;
  if (createdFrom && createdTo && Date.parse(createdFrom) > Date.parse(createdTo))
    invalid('filter.createdTo', 'must not lie before filter.createdFrom');
}

export async function readTermsMove(
  deps: IntakeDependencies,
  programId: string,
  moveId: string,
): Promise<TermsMoveView> {
  const move = await findTermsMove(deps.db, moveId);
  if (!move || move.program_id !== programId)
    throw new IntakeError('not_found', `no move ${moveId} of programme ${programId}`);
  return viewOf(deps, move);
}

async function viewOf(deps: IntakeDependencies, move: TermMoveRow): Promise<TermsMoveView> {
  const counts: TermsMoveCounts = await countTermsMoveItems(deps.db, move.move_id);
  return {
    moveId: move.move_id,
    programId: move.program_id,
    toVersion: move.to_version,
    dryRun: move.dry_run,
    status: move.status,
    selection: move.selection as unknown as TermsMoveSelection,
    actor: move.actor,
    reason: move.reason,
    createdAt: move.created_at.toISOString(),
    finishedAt: move.finished_at?.toISOString() ?? null,
    counts: { moved: counts.moved, wouldMove: counts.would_move, unchanged: counts.unchanged, refused: counts.refused },
  };
}

export interface TermsMoveItemView {
  referralId: string;
  outcome: TermMoveItemRow['outcome'];
  fromVersion: number | null;
  code: string | null;
  reason: string | null;
  changes: Record<string, unknown> | null;
  at: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
function referralIdOf(value: string): string {
  if (!UUID.test(value)) throw new Error('not a referral id');
  return value;
}

/** What the move did (or, in a dry run, would do) to each referral it reached, by referral id. */
export async function listTermsMoveReferrals(
  deps: IntakeDependencies,
  programId: string,
  moveId: string,
  page: { cursor?: string | undefined; limit: number },
): Promise<{ items: TermsMoveItemView[]; nextCursor: string | null }> {
  await readTermsMove(deps, programId, moveId);
  const after = page.cursor ? decodeCursor(page.cursor, (raw) => referralIdOf(cursorText(raw.referralId))) : undefined;
  const rows = await listTermsMoveItems(deps.db, moveId, { after, limit: page.limit + 1 });
  const items = rows.slice(0, page.limit).map((row) => ({
    referralId: row.referral_id,
    outcome: row.outcome,
    fromVersion: row.from_version,
    code: row.code,
    reason: row.reason,
    changes: row.changes,
    at: row.at.toISOString(),
  }));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > page.limit && last ? encodeCursor({ referralId: last.referralId }) : null };
}
