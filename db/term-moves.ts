import { sql } from 'kysely';
import type { DB } from './connection';
import type { TermMoveItemRow, TermMoveItemTable, TermMoveRow } from './schema';
import type { ReferralStatus } from '../workflows/shared';
import type { TermsMoveFilter, TermsMoveSelection } from '../workflows/terms-move';

/** Records a move under its id; a later request with the same id gets the existing row. */
export async function reserveTermsMove(
  db: DB,
  move: {
    moveId: string;
    programId: string;
    toVersion: number;
    dryRun: boolean;
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
      dry_run: move.dryRun,
      selection: JSON.stringify(move.selection),
      actor: move.actor,
      reason: move.reason,
      body_hash: move.bodyHash,
      status: 'running',
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
  const counts: TermsMoveCounts = { moved: 0, would_move: 0, unchanged: 0, refused: 0 };
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

/** What the move did to one referral; a retry of the same step writes the same row again. */
export async function recordTermsMoveItem(
  db: DB,
  item: Omit<TermMoveItemRow, 'changes' | 'at'> & { changes: Record<string, unknown> | null; at: Date },
): Promise<void> {
  const row = { ...item, changes: item.changes === null ? null : JSON.stringify(item.changes) };
  await db
    .insertInto('term_move_items')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['move_id', 'referral_id']).doUpdateSet({
        outcome: row.outcome,
        from_version: row.from_version,
        code: row.code,
        reason: row.reason,
        changes: row.changes,
        at: row.at,
      }),
    )
    .execute();
}

export async function finishTermsMove(db: DB, moveId: string, at: Date): Promise<void> {
  await db
    .updateTable('term_moves')
    .set({ status: 'finished', finished_at: at })
    .where('move_id', '=', moveId)
    .where('status', '=', 'running')
    .execute();
}

/** The open statuses a move may take; ended referrals are never moved. */
export const MOVABLE_STATUSES: readonly ReferralStatus[] = ['pending', 'registered', 'under_review', 'qualified'];

/**
 * The next page of the programme's open referrals the filter selects, not yet under `toVersion`, in (created_at, id)
 * order, which no change to a referral moves: a move resumed after a stop goes on where it was.
 */
export function selectTermsMoveCandidates(
  db: DB,
  query: {
    programId: string;
    toVersion: number;
    filter: TermsMoveFilter;
    after: { createdAt: string; id: string } | null;
    limit: number;
  },
): Promise<Array<{ id: string; createdAt: string }>> {
  const { filter, after } = query;
  const statuses = filter.statuses?.length ? filter.statuses : MOVABLE_STATUSES;
  return db
    .selectFrom('referrals')
    .select(['id', 'created_at'])
    .where('program_id', '=', query.programId)
    .where('closed_at', 'is', null)
    .where('status', 'in', [...statuses])
    .where('program_version', '<>', query.toVersion)
    .$if(filter.fromVersion !== undefined, (q) => q.where('program_version', '=', filter.fromVersion!))
    .$if(filter.createdFrom !== undefined, (q) => q.where('created_at', '>=', new Date(filter.createdFrom!)))
    .$if(filter.createdTo !== undefined, (q) => q.where('created_at', '<', new Date(filter.createdTo!)))
    .$if(after !== null, (q) =>
      q.where((eb) =>
        eb.or([
          eb('created_at', '>', new Date(after!.createdAt)),
          eb.and([eb('created_at', '=', new Date(after!.createdAt)), eb('id', '>', after!.id)]),
        ]),
      ),
    )
    .orderBy('created_at')
    .orderBy('id')
    .limit(query.limit)
    .execute()
    .then((rows) => rows.map((row) => ({ id: row.id, createdAt: row.created_at.toISOString() })));
}

/** The timeline entry a referral's workflow wrote as it applied the move request `requestId`. */
export const findTermsMovedEntry = (db: DB, referralId: string, requestId: string) =>
  db
    .selectFrom('referral_timeline')
    .select('detail')
    .where('referral_id', '=', referralId)
    .where('kind', '=', 'terms_moved')
    .where(sql<string>`detail->>'requestId'`, '=', requestId)
    .executeTakeFirst();
