import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { payloadHash } from '../db/inbox';
import { findProgram } from '../db/programs';
import { findReferral } from '../db/referrals';
import type { ReferralRow, TermMoveItemRow, TermMoveRow } from '../db/schema';
import {
  countTermsMoveItems,
  findTermsMove,
  listTermsMoveItems,
  reserveTermsMove,
  screenForMove,
  selectTermsMoveCandidates,
} from '../db/term-moves';
import { termsMovePreviewQuery } from '../workflows/messages';
import { referralWorkflowId, type ProgramSnapshot, type ReferralDeadlines } from '../workflows/shared';
import type { TermsMoveInput } from '../workflows/terms-move-batch';
import type { TermsMoveSelection } from '../workflows/terms-move';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { cursorText, decodeCursor, encodeCursor } from './page-cursor';
import { callWorkflow, isTemporalUnavailable } from './workflow-failures';

export interface TermsMoveRequest {
  programId: string;
  /** the admin's key for the move, and its id */
  moveId: string;
  toVersion: number;
  selection: TermsMoveSelection;
  actor: string;
  reason?: string | undefined;
}

export interface TermsMoveView {
  moveId: string;
  state: TermMoveRow['state'];
  /** referrals the move changed, left as they were (with why), and could not reach, so far */
  moved: number;
  skipped: number;
  failed: number;
  programId: string;
  toVersion: number;
  selection: TermsMoveSelection;
  actor: string;
  reason: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export const termsMoveWorkflowId = (moveId: string): string => `terms-move-${moveId}`;

/** The programme version a move goes to; 404 / 422 when there is none. */
async function targetOf(deps: IntakeDependencies, programId: string, toVersion: number): Promise<ProgramSnapshot> {
  const program = await findProgram(deps.db, programId);
  if (!program) throw new IntakeError('not_found', `no programme ${programId}`);
  const version = program.versions.find((v) => v.version === toVersion);
  if (!version)
    throw new IntakeError('validation_failed', `programme ${programId} has no version ${toVersion}`, [
      { path: 'toVersion', message: `no version ${toVersion}` },
    ]);
  return { id: program.id, version: version.version, currency: program.currency.trim(), terms: version.terms };
}

/** The rules the API's schemas cannot say. */
function checkSelection(selection: TermsMoveSelection): void {
  const invalid = (path: string, message: string): never => {
    throw new IntakeError('validation_failed', `${path}: ${message}`, [{ path, message }]);
  };
  if (selection.referralIds && new Set(selection.referralIds).size !== selection.referralIds.length)
    invalid('referralIds', 'lists a referral twice');
  const { createdFrom, createdTo } = selection;
  if (createdFrom && createdTo && Date.parse(createdFrom) > Date.parse(createdTo))
    invalid('createdTo', 'must not lie before createdFrom');
}

/**
 * Starts a move of open referrals to another version of their programme, as a workflow that works through them
 * (workflows/terms-move-batch.ts) while the caller reads its progress. Once per moveId: the same request again answers
 * the move it started (and starts its workflow again if an earlier attempt stopped before that, or the workflow was
 * stopped from outside); the id reused for another request is a conflict.
 */
export async function startTermsMove(
  deps: IntakeDependencies,
  request: TermsMoveRequest,
): Promise<TermsMoveView & { duplicate: boolean }> {
  const program = await targetOf(deps, request.programId, request.toVersion);
  checkSelection(request.selection);
  const reason = request.reason ?? null;
  const bodyHash = payloadHash({
    programId: request.programId,
    toVersion: request.toVersion,
    selection: request.selection,
    actor: request.actor,
    reason,
  });
  const reserved = await reserveTermsMove(deps.db, {
    moveId: request.moveId,
    programId: request.programId,
    toVersion: request.toVersion,
    selection: request.selection,
    actor: request.actor,
    reason,
    bodyHash,
  });
  if (!reserved.created && reserved.move.body_hash !== bodyHash)
    throw new IntakeError('idempotency_conflict', `moveId ${request.moveId} was already used for another move`);
  if (reserved.move.state === 'running') {
    const input: TermsMoveInput = {
      moveId: request.moveId,
      program,
      selection: request.selection,
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
          // A move stopped from outside (terminated, failed) resumes when it is asked for again; a finished one is done.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        }),
      );
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    deps.logger.info(
      { actor: request.actor, programId: request.programId, moveId: input.moveId, toVersion: request.toVersion },
      'terms move started',
    );
  }
  return { ...(await viewOf(deps, reserved.move)), duplicate: !reserved.created };
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
  const counts = await countTermsMoveItems(deps.db, move.move_id);
  return {
    moveId: move.move_id,
    state: move.state,
    ...counts,
    programId: move.program_id,
    toVersion: move.to_version,
    selection: move.selection as unknown as TermsMoveSelection,
    actor: move.actor,
    reason: move.reason,
    createdAt: move.created_at.toISOString(),
    finishedAt: move.finished_at?.toISOString() ?? null,
  };
}

/** At most this many referrals are looked at by one dry run; the answer says when there were more. */
export const MAX_DRY_RUN_REFERRALS = 1_000;
const DRY_RUN_CONCURRENCY = 16;

export interface TermsMovePreviewItem {
  referralId: string;
  allowed: boolean;
  /** why not: the rule's code, then its words */
  reason?: string | undefined;
  deadlinesBefore: ReferralDeadlines | null;
  deadlinesAfter: ReferralDeadlines | null;
  changes?: Record<string, unknown> | undefined;
}

/**
 * What a move would do to each referral it would take, changing nothing: each open referral's own workflow answers
 * by the rule the move applies (the termsMovePreview query); what the projection already rules out is said without
 * asking. Bounded: at most MAX_DRY_RUN_REFERRALS, `truncated` when the selection holds more.
 */
export async function previewTermsMove(
  deps: IntakeDependencies,
  request: Omit<TermsMoveRequest, 'actor' | 'reason' | 'moveId'>,
): Promise<{ items: TermsMovePreviewItem[]; truncated: boolean }> {
  const program = await targetOf(deps, request.programId, request.toVersion);
  checkSelection(request.selection);
  const { selection } = request;
  let ids: string[];
  let truncated = false;
  if (selection.referralIds) ids = selection.referralIds;
  else {
    const page = await selectTermsMoveCandidates(deps.db, {
      programId: program.id,
      toVersion: program.version,
      selection,
      after: null,
      limit: MAX_DRY_RUN_REFERRALS + 1,
    });
    truncated = page.ids.length > MAX_DRY_RUN_REFERRALS;
    ids = page.ids.slice(0, MAX_DRY_RUN_REFERRALS);
  }
  const items: TermsMovePreviewItem[] = [];
  let next = 0;
  const work = async () => {
    while (next < ids.length) {
      const i = next++;
      items[i] = await previewOne(deps, ids[i]!, program, selection);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DRY_RUN_CONCURRENCY, ids.length) }, work));
  return { items, truncated };
}

async function previewOne(
  deps: IntakeDependencies,
  referralId: string,
  program: ProgramSnapshot,
  selection: TermsMoveSelection,
): Promise<TermsMovePreviewItem> {
  const row = await findReferral(deps.db, referralId);
  const screened = screenForMove(row, program, selection);
  const shown = row ? deadlinesOf(row) : null;
  const refused = (reason: string): TermsMovePreviewItem => ({
    referralId,
    allowed: false,
    reason,
    deadlinesBefore: shown,
    deadlinesAfter: shown,
  });
  if (screened) return refused(`${screened.code}: ${screened.reason}`);
  try {
    const handle = deps.temporal.workflow.getHandle(referralWorkflowId(referralId));
    // A closed workflow still answers queries, from its history: one stopped by a fault (or terminated) would be
    // shown as movable while the move could never reach it.
    const { status } = await callWorkflow(deps, () => handle.describe());
    if (status.name !== 'RUNNING')
      return refused(`ended: the referral's workflow is ${status.name.toLowerCase().replaceAll('_', ' ')}`);
    const plan = await callWorkflow(deps, () =>
      handle.query(termsMovePreviewQuery, program, deps.clock().toISOString()),
    );
    if (plan.outcome === 'refused')
      return { ...refused(`${plan.code}: ${plan.reason}`), deadlinesBefore: plan.before, deadlinesAfter: plan.before };
    return {
      referralId,
      allowed: true,
      deadlinesBefore: plan.before,
      deadlinesAfter: plan.deadlines,
      changes: plan.changes as unknown as Record<string, unknown>,
    };
  } catch (error) {
    if (isTemporalUnavailable(error)) throw error;
    if (error instanceof WorkflowNotFoundError) return refused('ended: the referral has ended');
    // A workflow that cannot answer (stopped by a fault, an older worker): the move would not reach it either.
    deps.logger.warn({ err: error, referralId }, 'a referral could not answer a dry run');
    return refused(`unreachable: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const deadlinesOf = (row: ReferralRow): ReferralDeadlines => ({
  expiresAt: row.expires_at?.toISOString() ?? null,
  qualifyBy: row.qualify_by?.toISOString() ?? null,
  holdUntil: row.hold_until?.toISOString() ?? null,
});

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

/** What the move did to each referral it reached, by referral id. */
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
