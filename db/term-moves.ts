import { sql } from 'kysely';
import type { Kysely, Transaction } from 'kysely';
import type { DB } from './connection';
import type { Database, ReferralRow, TermMoveItemRow, TermMoveItemTable, TermMoveRow } from './schema';
import { isTerminal, type ProgramSnapshot, type ReferralStatus } from '../workflows/shared';
import { TERMS_MOVE_REFUSALS, type TermsMoveSelection } from '../workflows/terms-move';

/** The request id a move's update carries: one per move, so each referral applies a move once. */
export const termsMoveRequestId = (moveId: string): string => `move:${moveId}`;

/** The move a request id names, for the timeline's terms_moved entries; undefined for any other request. */
export const moveIdOfRequest = (requestId: unknown): string | undefined =>
  typeof requestId === 'string' && requestId.startsWith('move:') ? requestId.slice('move:'.length) : undefined;

/** What a terms_moved timeline entry says changed, as a move's item keeps it. */
export const termsMoveChanges = (detail: Record<string, unknown> | null | undefined): Record<string, unknown> => ({
  deadlines: detail?.deadlines ?? [],
  terms: detail?.terms ?? [],
  ...(detail?.qualifiedAt ? { qualifiedAt: detail.qualifiedAt } : {}),
});

/** Records a move under its id; a later request with the same id gets the existing row. */
export async function reserveTermsMove(
  db: DB,
  move: {
    moveId: string;
    programId: string;
    toVersion: number;
    selection: TermsMoveSelection;
    actor: string;
    reason: string | null;
    bodyHash: string;
  },
): Promise<{ created: boolean; move: TermMoveRow }> {
  const inserted = await db
    .insertInto('term_moves')
    .values({
      move_id: move.moveId,
      program_id: move.programId,
      to_version: move.toVersion,
      selection: JSON.stringify(move.selection),
      actor: move.actor,
      reason: move.reason,
      body_hash: move.bodyHash,
      state: 'running',
    })
    .onConflict((oc) => oc.column('move_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { created: true, move: inserted };
  return { created: false, move: (await findTermsMove(db, move.moveId))! };
}

export const findTermsMove = (db: DB, moveId: string): Promise<TermMoveRow | undefined> =>
  db.selectFrom('term_moves').selectAll().where('move_id', '=', moveId).executeTakeFirst();

export type TermsMoveCounts = Record<TermMoveItemTable['outcome'], number>;

/** How many referrals the move has reached, by outcome. */
export async function countTermsMoveItems(db: DB, moveId: string): Promise<TermsMoveCounts> {
  const rows = await db
    .selectFrom('term_move_items')
    .select(['outcome', sql<string>`count(*)`.as('count')])
    .where('move_id', '=', moveId)
    .groupBy('outcome')
    .execute();
  const counts: TermsMoveCounts = { moved: 0, skipped: 0, failed: 0 };
  for (const row of rows) counts[row.outcome] = Number(row.count);
  return counts;
}

/** A page of the move's items by referral id, after `after`. */
export const listTermsMoveItems = (
  db: DB,
  moveId: string,
  page: { after?: string | undefined; limit: number },
): Promise<TermMoveItemRow[]> =>
  db
    .selectFrom('term_move_items')
    .selectAll()
    .where('move_id', '=', moveId)
    .$if(page.after !== undefined, (q) => q.where('referral_id', '>', page.after!))
    .orderBy('referral_id')
    .limit(page.limit)
    .execute();

/**
 * What the move did to one referral; a retry of the same step writes the same row again. A failure never replaces a
 * moved: the step's budget may run out while a try already moved the referral and settles after the failure is kept.
 */
export async function recordTermsMoveItem(
  db: DB,
  item: Omit<TermMoveItemRow, 'changes' | 'at'> & { changes: Record<string, unknown> | null; at: Date },
): Promise<void> {
  const row = { ...item, changes: item.changes === null ? null : JSON.stringify(item.changes) };
  await db
    .insertInto('term_move_items')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['move_id', 'referral_id'])
        .doUpdateSet({
          outcome: row.outcome,
          from_version: row.from_version,
          code: row.code,
          reason: row.reason,
          changes: row.changes,
          at: row.at,
        })
        .where(sql<boolean>`not (term_move_items.outcome = 'moved' and excluded.outcome = 'failed')`),
    )
    .execute();
}

/**
 * The referral's workflow applied the move: an item kept as failed (the step's budget ran out while its update was
 * still to be applied) becomes moved, as the projection writes the terms_moved entry. Only a failed item changes: a
 * step that settles later writes the same moved row itself.
 */
export async function settleFailedItemAsMoved(
  db: Kysely<Database>,
  entry: { referralId: string; detail: Record<string, unknown>; at: string },
): Promise<void> {
  const moveId = moveIdOfRequest(entry.detail.requestId);
  if (!moveId) return;
  const { fromVersion } = entry.detail;
  await db
    .updateTable('term_move_items')
    .set({
      outcome: 'moved',
      from_version: typeof fromVersion === 'number' ? fromVersion : null,
      code: null,
      reason: null,
      changes: JSON.stringify(termsMoveChanges(entry.detail)),
      at: new Date(entry.at),
    })
    .where('move_id', '=', moveId)
    .where('referral_id', '=', entry.referralId)
    .where('outcome', '=', 'failed')
    .execute();
}

export async function finishTermsMove(db: DB, moveId: string, at: Date): Promise<void> {
  await db
    .updateTable('term_moves')
    .set({ state: 'done', finished_at: at })
    .where('move_id', '=', moveId)
    .where('state', '=', 'running')
    .execute();
}

/** The open statuses a move may take; ended referrals are never moved. */
export const MOVABLE_STATUSES = [
  'pending',
  'registered',
  'under_review',
  'qualified',
] as const satisfies readonly ReferralStatus[];

/** A page of candidates, and where the next one starts (PostgreSQL's own text of the instant: microseconds kept). */
export interface TermsMoveCandidates {
  ids: string[];
  after: { createdAt: string; id: string } | null;
}

/**
 * The next page of the programme's open referrals the filter selects, not yet under `toVersion`, in (created_at, id)
 * order, which no move changes: a move resumed after a stop goes on where it was. Served by
 * referrals_open_by_program_idx.
 */
export async function selectTermsMoveCandidates(
  db: DB,
  query: {
    programId: string;
    toVersion: number;
    selection: TermsMoveSelection;
    after: { createdAt: string; id: string } | null;
    limit: number;
  },
): Promise<TermsMoveCandidates> {
  const { selection, after } = query;
  const statuses = selection.status ? [selection.status] : [...MOVABLE_STATUSES];
  const rows = await db
    .selectFrom('referrals')
    .select(['id', sql<string>`created_at::text`.as('created_at_text')])
    .where('program_id', '=', query.programId)
    .where('closed_at', 'is', null)
    .where('status', 'in', statuses)
    .where('program_version', '<>', query.toVersion)
    .$if(selection.fromVersion !== undefined, (q) => q.where('program_version', '=', selection.fromVersion!))
    .$if(selection.createdFrom !== undefined, (q) => q.where('created_at', '>=', new Date(selection.createdFrom!)))
    .$if(selection.createdTo !== undefined, (q) => q.where('created_at', '<', new Date(selection.createdTo!)))
    .$if(after !== null, (q) =>
      q.where(sql<boolean>`(created_at, id) > (${after!.createdAt}::timestamptz, ${after!.id}::uuid)`),
    )
    .orderBy('created_at')
    .orderBy('id')
    .limit(query.limit)
    .execute();
  const last = rows.at(-1);
  return { ids: rows.map((row) => row.id), after: last ? { createdAt: last.created_at_text, id: last.id } : after };
}

/**
 * The referral's projection row, locked as projectReferral locks it before it writes anything of the referral: until
 * the transaction ends no projection of the referral writes, and one that held the lock first has ended.
 */
export const lockReferralRow = (trx: Transaction<Database>, referralId: string): Promise<ReferralRow | undefined> =>
  trx.selectFrom('referrals').selectAll().where('id', '=', referralId).forNoKeyUpdate().executeTakeFirst();

/** The timeline entry a referral's workflow wrote as it applied the move request `requestId`. */
export const findTermsMovedEntry = (db: DB, referralId: string, requestId: string) =>
  db
    .selectFrom('referral_timeline')
    .select('detail')
    .where('referral_id', '=', referralId)
    .where('kind', '=', 'terms_moved')
    .where(sql<string>`detail->>'requestId'`, '=', requestId)
    .executeTakeFirst();

/**
 * Why the projection already says a referral is not for this move, before its workflow is asked: unknown, another
 * programme's, ended, outside the selection, or already under the version. Undefined when its workflow decides.
 */
export function screenForMove(
  row: ReferralRow | undefined,
  program: ProgramSnapshot,
  selection: TermsMoveSelection,
): { code: string; reason: string } | undefined {
  if (!row) return { code: 'not_found', reason: 'no such referral' };
  if (row.program_id !== program.id)
    return { code: TERMS_MOVE_REFUSALS.otherProgramme, reason: `the referral belongs to programme ${row.program_id}` };
  if (row.closed_at || isTerminal(row.status))
    return { code: TERMS_MOVE_REFUSALS.ended, reason: `the referral has ended as ${row.status}` };
  const created = row.created_at.getTime();
  if (
    (selection.status !== undefined && row.status !== selection.status) ||
    (selection.fromVersion !== undefined && row.program_version !== selection.fromVersion) ||
    (selection.createdFrom !== undefined && created < Date.parse(selection.createdFrom)) ||
    (selection.createdTo !== undefined && created >= Date.parse(selection.createdTo))
  )
    return { code: 'not_selected', reason: 'the referral does not match the move’s status, version or dates' };
  if (row.program_version === program.version)
    return {
      code: TERMS_MOVE_REFUSALS.sameVersion,
      reason: `the referral already runs under version ${program.version}`,
    };
  return undefined;
}
