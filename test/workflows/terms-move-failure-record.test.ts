import { randomUUID } from 'node:crypto';
import { sql, type KyselyPlugin, type QueryId, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferralActivities, type ProjectReferralInput } from '../../activities/referrals';
import { createTermsMoveActivities } from '../../activities/term-moves';
import { createDatabase, type DB } from '../../db/connection';
import { createProgram } from '../../db/programs';
import { recordTermsMoveItem, reserveTermsMove, termsMoveRequestId } from '../../db/term-moves';
import { DEFAULT_REFERRAL_TERMS } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * What a move keeps for a referral its step gave up on (activities/term-moves.ts): the step's budget can run out while
 * its update is already admitted, so the referral may show the move by the time the failure is recorded, and an
 * earlier try still running may settle it moved after that. Real PostgreSQL, the activities called directly.
 */
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let db: DB;
/** Connections with foreign keys enforced, for the projection and the failure to run side by side. */
let racing: DB | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection, with foreign keys not enforced: the rows stand for a move and a referral without the programme,
  // versions and workflow that would make them.
  db = createDatabase(database.url, { max: 1 });
  await sql`set session_replication_role = replica`.execute(db);
});
afterAll(async () => {
  await racing?.destroy();
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

/**
 * A party held after one of its statements, its transaction open, until released: the other party runs in between,
 * as it could in production, so the interleaving is the test's and not the scheduler's.
 */
function holdAfter(statement: (node: RootOperationNode) => boolean) {
  const held = new WeakSet<QueryId>();
  let reach = () => {};
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const plugin: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (statement(node)) held.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }) {
      if (held.has(queryId)) {
        reach();
        await released;
      }
      return result;
    },
  };
  return { plugin, reached, release };
}

const isStatement = (kind: RootOperationNode['kind'], table: string) => (node: RootOperationNode) =>
  node.kind === kind && JSON.stringify(node).includes(`"name":"${table}"`);

/** Until `work` has settled or some statement in the test's database waits on another's lock. */
async function settledOrWaiting(work: Promise<unknown>): Promise<void> {
  let settled = false;
  void work.then(
    () => (settled = true),
    () => (settled = true),
  );
  const giveUpAt = Date.now() + 20_000;
  for (;;) {
    if (settled) return;
    const { rows } = await sql<{ waiting: boolean }>`
      select exists (select 1 from pg_stat_activity
                      where datname = current_database() and cardinality(pg_blocking_pids(pid)) > 0) as waiting`.execute(
      db,
    );
    if (rows[0]!.waiting) return;
    if (Date.now() > giveUpAt) throw new Error('neither settled nor waiting on a lock');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a move’s failure recorded while the projection writes the referral’s move', () => {
  const programId = 'program-failure-race';

  beforeAll(async () => {
    racing = createDatabase(database.url, { max: 4 });
    await createProgram(racing, { id: programId, name: 'Race', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
  });

  function projection(referralId: string, seq: number, moveId?: string): ProjectReferralInput {
    const at = new Date(Date.UTC(2026, 10, 1, 0, 0, seq)).toISOString();
    return {
      referral: {
        referralId,
        status: 'registered',
        programId,
        programVersion: 1,
        currency: 'INR',
        code: 'RACE2026',
        referrerId: 'anna',
        refereeId: `ben-${referralId}`,
        createdAt: '2026-11-01T00:00:00.000Z',
        registeredAt: at,
        qualifiedAt: null,
        completedAt: null,
        endedAt: null,
        endReason: null,
        deadlines: { expiresAt: '2027-01-30T00:00:00.000Z', qualifyBy: null, holdUntil: null },
        terms: DEFAULT_REFERRAL_TERMS,
        progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 50_000 },
      },
      entry: moveId
        ? {
            seq,
            at,
            kind: 'terms_moved',
            status: 'registered',
            detail: { requestId: termsMoveRequestId(moveId), fromVersion: 1, deadlines: [], terms: ['minSpend'] },
          }
        : { seq, at, kind: 'registered', status: 'registered' },
    };
  }

  /** A registered referral in the projection and a move under way that has not reached it yet. */
  async function referralAndMove(): Promise<{ referralId: string; moveId: string }> {
    const referralId = randomUUID();
    const moveId = randomUUID();
    await createReferralActivities({ db: racing! }).projectReferral(projection(referralId, 1));
    await reserveTermsMove(racing!, {
      moveId,
      programId,
      toVersion: 1,
      selection: {},
      actor: 'ops',
      reason: null,
      bodyHash: moveId,
    });
    return { referralId, moveId };
  }

  it('given the projection has written the referral’s terms_moved entry but not committed, when the failure is recorded, then it waits for the projection and the referral is kept as moved', async () => {
    const { referralId, moveId } = await referralAndMove();
    // held after settleFailedItemAsMoved, which found no failed item yet: the projection's last statement
    const projectionHeld = holdAfter(isStatement('UpdateQueryNode', 'term_move_items'));
    const projecting = createReferralActivities({
      db: racing!.withPlugin(projectionHeld.plugin),
    }).projectReferral(projection(referralId, 2, moveId));
    await projectionHeld.reached;

    const failing = createTermsMoveActivities({ db: racing! }).recordTermsMoveFailure({
      moveId,
      referralId,
      error: 'Activity task timed out',
    });
    await settledOrWaiting(failing);
    projectionHeld.release();
    await Promise.all([projecting, failing]);

    expect(await item(moveId, referralId)).toMatchObject({ outcome: 'moved', code: null, from_version: 1 });
  });

  it('given the failure found no terms_moved entry, when the projection writes one before the failure is written, then the referral is kept as moved', async () => {
    const { referralId, moveId } = await referralAndMove();
    // held after its check of the referral's timeline, before it writes the item
    const failureHeld = holdAfter(isStatement('SelectQueryNode', 'referral_timeline'));
    const failing = createTermsMoveActivities({
      db: racing!.withPlugin(failureHeld.plugin),
    }).recordTermsMoveFailure({ moveId, referralId, error: 'Activity task timed out' });
    await failureHeld.reached;

    const projecting = createReferralActivities({ db: racing! }).projectReferral(projection(referralId, 2, moveId));
    await settledOrWaiting(projecting);
    failureHeld.release();
    await Promise.all([projecting, failing]);

    expect(await item(moveId, referralId)).toMatchObject({ outcome: 'moved', code: null, from_version: 1 });
  });
});
