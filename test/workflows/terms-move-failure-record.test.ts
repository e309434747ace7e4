import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTermsMoveActivities } from '../../activities/term-moves';
import { createDatabase, type DB } from '../../db/connection';
import { recordTermsMoveItem, termsMoveRequestId } from '../../db/term-moves';
import { createTestDatabase } from '../support/database';

/**
 * What a move keeps for a referral its step gave up on (activities/term-moves.ts): the step's budget can run out while
 * its update is already admitted, so the referral may show the move by the time the failure is recorded, and an
 * earlier try still running may settle it moved after that. Real PostgreSQL, the activities called directly.
 */
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let db: DB;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection, with foreign keys not enforced: the rows stand for a move and a referral without the programme,
  // versions and workflow that would make them.
  db = createDatabase(database.url, { max: 1 });
  await sql`set session_replication_role = replica`.execute(db);
});
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

const item = (moveId: string, referralId: string) =>
  db
    .selectFrom('term_move_items')
    .select(['outcome', 'from_version', 'code', 'changes'])
    .where('move_id', '=', moveId)
    .where('referral_id', '=', referralId)
    .executeTakeFirstOrThrow();

async function movedOnTimeline(moveId: string, referralId: string): Promise<void> {
  await db
    .insertInto('referral_timeline')
    .values({
      referral_id: referralId,
      seq: 7,
      at: new Date(),
      kind: 'terms_moved',
      status: 'registered',
      detail: JSON.stringify({
        requestId: termsMoveRequestId(moveId),
        fromVersion: 2,
        terms: ['qualificationWindow'],
        deadlines: [],
      }),
    })
    .execute();
}

describe('a referral a move gave up on', () => {
  it('given the referral’s timeline already shows the move, when its failure is recorded, then it is kept as moved', async () => {
    const moveId = randomUUID();
    const referralId = randomUUID();
    await movedOnTimeline(moveId, referralId);
    await createTermsMoveActivities({ db }).recordTermsMoveFailure({
      moveId,
      referralId,
      error: 'Activity task timed out',
    });
    expect(await item(moveId, referralId)).toMatchObject({
      outcome: 'moved',
      from_version: 2,
      code: null,
      changes: { terms: ['qualificationWindow'] },
    });
  });

  it('given the referral kept as moved by an earlier try, when a failure is recorded after it, then it stays moved; a moved after a failure wins', async () => {
    const moveId = randomUUID();
    const referralId = randomUUID();
    const moved = {
      move_id: moveId,
      referral_id: referralId,
      outcome: 'moved' as const,
      from_version: 2,
      code: null,
      reason: null,
      changes: { terms: [] },
      at: new Date(),
    };
    const failed = { ...moved, outcome: 'failed' as const, code: 'unreachable', reason: 'timed out', changes: null };
    await recordTermsMoveItem(db, moved);
    await recordTermsMoveItem(db, failed);
    expect(await item(moveId, referralId)).toMatchObject({ outcome: 'moved', code: null });

    const other = randomUUID();
    await recordTermsMoveItem(db, { ...failed, referral_id: other });
    await recordTermsMoveItem(db, { ...moved, referral_id: other });
    expect(await item(moveId, other)).toMatchObject({ outcome: 'moved', code: null });
  });

  it('given the referral’s timeline does not show the move, when its failure is recorded, then it is kept as failed', async () => {
    const moveId = randomUUID();
    const referralId = randomUUID();
    await createTermsMoveActivities({ db }).recordTermsMoveFailure({ moveId, referralId, error: 'unreachable' });
    expect(await item(moveId, referralId)).toMatchObject({ outcome: 'failed', code: 'unreachable' });
  });
});
