import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferralActivities, type ProjectReferralInput } from '../../activities/referrals';
import type { DB } from '../../db/connection';
import { encodeCursor } from '../../intake/page-cursor';
import { DEFAULT_REFERRAL_TERMS, type ReferralStatus } from '../../workflows/shared';
import { appOver } from '../support/app';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { insertReferralRow } from '../support/projection-rows';

/**
 * The admin lists of referrals over a real database, rows written straight into the projection: the filters, the
 * order, the cursor under concurrent writes, and what the lists refuse. Temporal is never called.
 */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;

const newProgram = async (name: string): Promise<string> =>
  (await api.post('/v1/admin/programs', KEYS.admin, { name, currency: 'INR' })).body.id;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db));
});
afterAll(() => drop());

/** Every page of `path` (which has a query already), following nextCursor to the end. */
async function allPages(path: string, limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1_000; pages++) {
    const response = await api.get(
      `${path}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      KEYS.admin,
    );
    expect({ status: response.status, problem: response.body.code }).toEqual({ status: 200, problem: undefined });
    expect(response.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...response.body.items);
    cursor = response.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error(`${path} did not end`);
}

/** The projection's rows as the lists key them: created_at and updated_at to the microsecond, in UTC. */
const KEY_FORMAT = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
async function projectionRows() {
  return (
    await sql<{
      id: string;
      status: string;
      program_id: string;
      referrer_id: string;
      referee_id: string | null;
      flags: string[];
      created: string;
      updated: string;
    }>`select id, status, program_id, referrer_id, referee_id, flags,
              to_char(created_at at time zone 'UTC', ${sql.raw(KEY_FORMAT)}) as created,
              to_char(updated_at at time zone 'UTC', ${sql.raw(KEY_FORMAT)}) as updated
         from referrals`.execute(db)
  ).rows;
}

/** An instant as the key text above spells it, so the two compare as strings. */
const keyText = (instant: string): string => new Date(instant).toISOString().replace(/Z$/, '000Z');

const newestFirst = (a: { created: string; id: string }, b: { created: string; id: string }) =>
  a.created === b.created ? (a.id < b.id ? 1 : -1) : a.created < b.created ? 1 : -1;

async function putUnderReview(id: string, decideBy: string | null, flags: string[], startedAt: Date = new Date()) {
  await sql`update referrals set status = 'under_review', review_decide_by = ${decideBy}, flags = ${flags},
                                 review_started_at = ${startedAt}
             where id = ${id}`.execute(db);
}

describe('GET /v1/admin/referrals', () => {
  it('given referrals of two programmes, three referrers, every status and some flagged, when an admin lists them with each filter and some together, then exactly the matching referrals come back, newest first', async () => {
    const programs = [await newProgram('Filters A'), await newProgram('Filters B')];
    const statuses: ReferralStatus[] = ['pending', 'registered', 'qualified', 'completed', 'expired', 'cancelled'];
    const base = Date.UTC(2026, 0, 1);
    const hour = 3_600_000;
    for (let i = 0; i < 30; i++) {
      const status = statuses[i % statuses.length]!;
      // Referrals 10 and 11 were created in the same instant: their ids decide their order.
      const created = base + (i === 11 ? 10 : i) * hour;
      await insertReferralRow(db, {
        program_id: programs[i % 2]!,
        referrer_id: ['anna', 'ben', 'cleo'][i % 3]!,
        referee_id: status === 'pending' ? null : `filters-referee-${i}`,
        status,
        flags: i % 4 === 0 ? ['SAME_IP'] : i % 7 === 0 ? ['DEVICE_REUSE', 'HIGH_VELOCITY'] : [],
        created_at: new Date(created),
        updated_at: new Date(created + ((i * 7) % 24) * hour),
      });
    }
    const at = (hours: number) => new Date(base + hours * hour).toISOString();
    const rows = await projectionRows();
    const cases: Array<[Record<string, string>, (row: (typeof rows)[number]) => boolean]> = [
      [{}, () => true],
      [{ status: 'registered' }, (r) => r.status === 'registered'],
      [{ referrerId: 'ben' }, (r) => r.referrer_id === 'ben'],
      [{ refereeId: 'filters-referee-7' }, (r) => r.referee_id === 'filters-referee-7'],
      [{ programId: programs[1]! }, (r) => r.program_id === programs[1]],
      [{ flagged: 'true' }, (r) => r.flags.length > 0],
      [{ flagged: 'false' }, (r) => r.flags.length === 0],
      // from included, to excluded: referral 4 is in, referral 12 out, and both created at 10 hours are in
      [{ createdFrom: at(4), createdTo: at(12) }, (r) => r.created >= keyText(at(4)) && r.created < keyText(at(12))],
      [{ updatedFrom: at(20) }, (r) => r.updated >= keyText(at(20))],
      [{ updatedTo: at(9) }, (r) => r.updated < keyText(at(9))],
      [
        { programId: programs[0]!, status: 'pending', referrerId: 'anna' },
        (r) => r.program_id === programs[0] && r.status === 'pending' && r.referrer_id === 'anna',
      ],
      [
        { flagged: 'true', programId: programs[0]!, createdFrom: at(8) },
        (r) => r.flags.length > 0 && r.program_id === programs[0] && r.created >= keyText(at(8)),
      ],
      [
        { status: 'completed', updatedFrom: at(3), updatedTo: at(40) },
        (r) => r.status === 'completed' && r.updated >= keyText(at(3)) && r.updated < keyText(at(40)),
      ],
    ];
    for (const [filter, matches] of cases) {
      const listed = await allPages(`/v1/admin/referrals?${new URLSearchParams(filter).toString()}`, 4);
      const expected = rows.filter(matches).sort(newestFirst);
      expect({ filter, matching: expected.length > 0 }).toEqual({ filter, matching: true });
      expect({ filter, ids: listed.map((item) => item.id) }).toEqual({ filter, ids: expected.map((row) => row.id) });
    }
    // the tie: both referrals created at 10 hours, the greater id first
    const tied = await allPages(`/v1/admin/referrals?createdFrom=${at(10)}&createdTo=${at(11)}`, 1);
    expect(tied).toHaveLength(2);
    expect(tied[0].id > tied[1].id).toBe(true);
  });

  it('given a referral, when it is listed, then its item is the referral view GET /v1/referrals/{id} returns, with no flags and no review', async () => {
    const programId = await newProgram('Views');
    const row = await insertReferralRow(db, { program_id: programId, referee_id: 'views-referee', channel: 'email' });
    const listed = await api.get(`/v1/admin/referrals?programId=${programId}`, KEYS.admin);
    const { rewards: _rewards, ...read } = (await api.get(`/v1/referrals/${row.id}`, KEYS.admin)).body;
    expect(listed.body).toEqual({ items: [read], nextCursor: null });
    expect(read).toMatchObject({ id: row.id, flags: [], review: null, status: 'registered' });
  });

  it('given snapshots that carry flags and a review deadline, when the projection writes them, then the list shows them, and a later snapshot that says nothing of them keeps them', async () => {
    const programId = await newProgram('Projected flags');
    const referralId = randomUUID();
    const project = createReferralActivities({ db }).projectReferral;
    const snapshot = (
      seq: number,
      status: ReferralStatus,
      extra: Partial<ProjectReferralInput['referral']>,
    ): ProjectReferralInput => ({
      referral: {
        referralId,
        status,
        programId,
        programVersion: 1,
        currency: 'INR',
        code: 'ANNA2026',
        referrerId: 'anna',
        refereeId: 'flagged-ben',
        createdAt: '2026-02-01T00:00:00.000Z',
        registeredAt: '2026-02-01T00:00:00.000Z',
        qualifiedAt: null,
        completedAt: null,
        endedAt: null,
        endReason: null,
        deadlines: { expiresAt: null, qualifyBy: '2026-03-01T00:00:00.000Z', holdUntil: null },
        terms: DEFAULT_REFERRAL_TERMS,
        progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 0 },
        ...extra,
      },
      entry: { seq, at: new Date(Date.UTC(2026, 1, 1, 0, 0, seq)).toISOString(), kind: status, status },
    });
    const listed = async () => (await api.get(`/v1/admin/referrals?programId=${programId}`, KEYS.admin)).body.items;

    await project(snapshot(1, 'registered', {}));
    expect(await listed()).toMatchObject([{ id: referralId, flags: [], review: null }]);

    // The fraud review's status is not among the workflow's yet; the projection stores what the snapshot says.
    const underReview = 'under_review' as unknown as ReferralStatus;
    await project(
      snapshot(2, underReview, {
        flags: ['SAME_IP', 'EMAIL_ALIAS'],
        review: { decideBy: '2026-02-15T00:00:00.000Z' },
      }),
    );
    expect(await listed()).toMatchObject([
      {
        id: referralId,
        status: 'under_review',
        flags: ['SAME_IP', 'EMAIL_ALIAS'],
        review: { decideBy: '2026-02-15T00:00:00.000Z' },
      },
    ]);
    expect((await api.get('/v1/admin/review-queue', KEYS.admin)).body.items.map((r: any) => r.id)).toContain(
      referralId,
    );

    await project(
      snapshot(3, underReview, { progress: { countedOrders: 1, countedSpend: 0, minOrders: 1, minSpend: 0 } }),
    );
    expect(await listed()).toMatchObject([
      { flags: ['SAME_IP', 'EMAIL_ALIAS'], review: { decideBy: '2026-02-15T00:00:00.000Z' } },
    ]);

    await project(snapshot(4, 'registered', { flags: ['SAME_IP', 'EMAIL_ALIAS'], review: null }));
    expect(await listed()).toMatchObject([{ status: 'registered', flags: ['SAME_IP', 'EMAIL_ALIAS'], review: null }]);
  });

  it('given referrals created and changed while an admin pages through them, when every page is read, then each referral there at the start is listed exactly once, in (createdAt, id) order', async () => {
    const programId = await newProgram('Paging');
    const base = Date.UTC(2026, 4, 1);
    // Five referrals to an instant, each instant with microseconds a millisecond cannot hold: a page often ends
    // inside a group of ties, and a key rounded to the millisecond would pass over the rest of its group.
    const createdAt = (group: number) => `${new Date(base + group * 1_000).toISOString().slice(0, 19)}.123456Z`;
    const initial = new Set<string>();
    for (let i = 0; i < 150; i++) {
      const row = await insertReferralRow(db, {
        program_id: programId,
        created_at: createdAt(Math.floor(i / 5)),
        updated_at: createdAt(Math.floor(i / 5)),
      });
      initial.add(row.id);
    }
    const ids = [...initial];
    let writes = 0;
    let updatesAhead = 0;
    let done = false;

    // What a busy projection does: new referrals (newest of all, amid the old, tied with an old one's instant), and
    // old ones changed, each change making it the most recently updated.
    async function write(n: number) {
      const group = n % 40;
      await insertReferralRow(db, {
        program_id: programId,
        created_at: n % 3 === 0 ? createdAt(100 + n) : createdAt(group),
        updated_at: new Date(),
      });
      const changed = ids[(n * 37) % ids.length]!;
      await db
        .updateTable('referrals')
        .set({
          status: n % 2 ? 'qualified' : 'completed',
          counted_orders: n,
          flags: n % 5 === 0 ? ['HIGH_VELOCITY'] : [],
          projection_seq: 1 + n,
          updated_at: new Date(Date.now() + n),
        })
        .where('id', '=', changed)
        .execute();
      writes += 1;
    }

    const writer = (async () => {
      for (let n = 0; !done; n++) await write(1_000 + n);
    })();
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    try {
      do {
        const response = await api.get(
          `/v1/admin/referrals?programId=${programId}&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
          KEYS.admin,
        );
        expect(response.status).toBe(200);
        seen.push(...response.body.items);
        cursor = response.body.nextCursor;
        pages += 1;
        // and one more between every two pages, whatever the concurrent writer managed
        await write(pages);
        updatesAhead += 1;
      } while (cursor && pages < 500);
    } finally {
      done = true;
      await writer;
    }

    const seenIds = seen.map((item) => item.id as string);
    expect(seenIds.filter((id, i) => seenIds.indexOf(id) !== i)).toEqual([]);
    expect(ids.filter((id) => !seenIds.includes(id))).toEqual([]);
    // the concurrent writer wrote while pages were read, besides the writes between them
    expect(writes).toBeGreaterThan(updatesAhead);
    expect(pages).toBeGreaterThan(150 / 7);
    const keys = new Map((await projectionRows()).map((row) => [row.id, row]));
    const order = seenIds.map((id) => keys.get(id)!);
    expect(order).toEqual([...order].sort(newestFirst));
  });

  it('given a commerce key, when it asks for either list, then 403 forbidden', async () => {
    for (const path of ['/v1/admin/referrals', '/v1/admin/review-queue']) {
      expect(await api.get(path, KEYS.commerce)).toMatchObject({ status: 403, body: { code: 'forbidden' } });
    }
  });

  it('given filters that are not ones, a limit out of range or a cursor this list did not give out, then validation_failed naming the parameter: 400 for what the document refuses, 422 for a range or cursor it allows', async () => {
    const programId = await newProgram('Refusals');
    await insertReferralRow(db, { program_id: programId });
    await insertReferralRow(db, { program_id: programId });
    const listCursor = (await api.get(`/v1/admin/referrals?programId=${programId}&limit=1`, KEYS.admin)).body
      .nextCursor as string;
    expect(listCursor).toEqual(expect.any(String));
    const queueKey = JSON.parse(Buffer.from(listCursor, 'base64url').toString('utf8'));

    const refused: Array<[string, string]> = [
      ['status=shipped', 'status'],
      ['status=', 'status'],
      ['flagged=yes', 'flagged'],
      ['createdFrom=yesterday', 'createdFrom'],
      ['createdTo=2026-02-30T00:00:00Z', 'createdTo'],
      ['updatedFrom=2026-01-01', 'updatedFrom'],
      ['updatedTo=2026-01-01T00:00:00', 'updatedTo'],
      ['referrerId=', 'referrerId'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=1e1', 'limit'],
      ['limit=ten', 'limit'],
      ['cursor=', 'cursor'],
    ];
    // Allowed by the document, refused as rules: 422 (a schema-valid request is never 400).
    const refusedByRule: Array<[string, string]> = [
      ['createdFrom=2026-02-01T00:00:00Z&createdTo=2026-01-01T00:00:00Z', 'createdTo'],
      ['updatedFrom=2026-02-01T00:00:00Z&updatedTo=2026-01-01T00:00:00Z', 'updatedTo'],
      ['cursor=bm9wZQ', 'cursor'],
      ['cursor=0', 'cursor'],
      [`cursor=${encodeCursor({ ...queueKey, list: 'review-queue' })}`, 'cursor'],
      [`cursor=${encodeCursor({ ...queueKey, id: 'not-a-uuid' })}`, 'cursor'],
      [`cursor=${encodeCursor({ ...queueKey, createdAt: '2026-01-01T00:00:00.000Z' })}`, 'cursor'],
      [`cursor=${encodeCursor({ ...queueKey, createdAt: '0000-01-01T00:00:00.000000Z' })}`, 'cursor'],
    ];
    for (const [cases, status] of [
      [refused, 400],
      [refusedByRule, 422],
    ] as const) {
      for (const [query, field] of cases) {
        const response = await api.get(`/v1/admin/referrals?${query}`, KEYS.admin);
        expect({ query, status: response.status, code: response.body.code }).toEqual({
          query,
          status,
          code: 'validation_failed',
        });
        expect(response.body.errors.map((e: { path: string }) => e.path)).toContain(field);
      }
    }
    for (const [query, field, status] of [
      ['limit=0', 'limit', 400],
      ['cursor=bm9wZQ', 'cursor', 422],
      [`cursor=${listCursor}`, 'cursor', 422],
    ] as const) {
      const response = await api.get(`/v1/admin/review-queue?${query}`, KEYS.admin);
      expect({ query, status: response.status, code: response.body.code }).toEqual({
        query,
        status,
        code: 'validation_failed',
      });
      expect(response.body.errors.map((e: { path: string }) => e.path)).toContain(field);
    }
    // what the list gave out, it takes
    expect(
      (await api.get(`/v1/admin/referrals?programId=${programId}&cursor=${listCursor}`, KEYS.admin)).body,
    ).toMatchObject({ items: [expect.any(Object)], nextCursor: null });
  });
});

describe('GET /v1/admin/review-queue', () => {
  it('given referrals under review among others, when the queue is paged, then it lists only those under review, the longest waiting first, each with its flags and decision deadline', async () => {
    const programId = await newProgram('Review queue');
    const base = Date.UTC(2026, 5, 1);
    const inReview: Array<{ id: string; startedAt: number }> = [];
    for (let i = 0; i < 9; i++) {
      const created = new Date(base + i * 60_000);
      const row = await insertReferralRow(db, { program_id: programId, created_at: created, updated_at: created });
      if (i % 3 === 2) continue;
      // Reviews start in another order than the referrals were created (a claim signs up days later), and two start
      // in the same instant: the smaller id is the longer waiting.
      const startedAt = base + 86_400_000 + (i === 4 ? 7 : 8 - i) * 60_000;
      await putUnderReview(
        row.id,
        new Date(startedAt + 14 * 86_400_000).toISOString(),
        ['SAME_IP', 'EMAIL_ALIAS'],
        new Date(startedAt),
      );
      inReview.push({ id: row.id, startedAt });
    }
    // a deadline left on a referral that is no longer under review is not shown
    const decided = await insertReferralRow(db, { program_id: programId, status: 'completed', flags: ['SAME_IP'] });
    await sql`update referrals set review_decide_by = now() where id = ${decided.id}`.execute(db);

    const queue = await allPages('/v1/admin/review-queue?', 2);
    expect(queue.every((item) => item.status === 'under_review')).toBe(true);
    const ours = queue.filter((item) => item.programId === programId);
    const expected = [...inReview].sort((a, b) => a.startedAt - b.startedAt || (a.id < b.id ? -1 : 1));
    expect(ours.map((item) => item.id)).toEqual(expected.map((row) => row.id));
    expect(ours[0]).toMatchObject({
      flags: ['SAME_IP', 'EMAIL_ALIAS'],
      review: { decideBy: new Date(expected[0]!.startedAt + 14 * 86_400_000).toISOString() },
    });

    const listed = await allPages(`/v1/admin/referrals?programId=${programId}&status=completed`, 10);
    expect(listed).toMatchObject([{ id: decided.id, flags: ['SAME_IP'], review: null }]);
  });

  it('given a claim made weeks ago that went under review today and one made yesterday that went under review at once, when the queue is read, then yesterday’s waits first; the order is the projection’s review_started entry, kept while the referral waits and cleared once decided', async () => {
    const programId = await newProgram('Review order');
    const project = createReferralActivities({ db }).projectReferral;
    const underReview = 'under_review' as unknown as ReferralStatus;
    const write = (
      referralId: string,
      createdAt: string,
      entry: { seq: number; at: string; kind: string; status: ReferralStatus },
    ) =>
      project({
        referral: {
          referralId,
          status: entry.status,
          programId,
          programVersion: 1,
          currency: 'INR',
          code: 'ANNA2026',
          referrerId: 'anna',
          refereeId: entry.status === 'pending' ? null : `referee-${referralId}`,
          createdAt,
          registeredAt: entry.status === 'pending' ? null : entry.at,
          qualifiedAt: null,
          completedAt: null,
          endedAt: null,
          endReason: null,
          deadlines: { expiresAt: null, qualifyBy: '2027-01-01T00:00:00.000Z', holdUntil: null },
          terms: DEFAULT_REFERRAL_TERMS,
          progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 0 },
          flags: ['SAME_IP', 'DEVICE_REUSE'],
          review: entry.status === underReview ? { decideBy: '2026-12-30T00:00:00.000Z' } : null,
        },
        entry,
      });
    const weeksAgo = randomUUID();
    const yesterday = randomUUID();
    await write(weeksAgo, '2026-11-01T00:00:00.000Z', {
      seq: 1,
      at: '2026-11-01T00:00:00.000Z',
      kind: 'claimed',
      status: 'pending',
    });
    await write(yesterday, '2026-11-30T00:00:00.000Z', {
      seq: 1,
      at: '2026-11-30T00:00:05.000Z',
      kind: 'review_started',
      status: underReview,
    });
    await write(weeksAgo, '2026-11-01T00:00:00.000Z', {
      seq: 2,
      at: '2026-12-01T09:00:00.000Z',
      kind: 'review_started',
      status: underReview,
    });
    // orders counted while it waits do not move it
    await write(yesterday, '2026-11-30T00:00:00.000Z', {
      seq: 2,
      at: '2026-12-01T10:00:00.000Z',
      kind: 'orders_counted',
      status: underReview,
    });
    const queued = async () =>
      (await allPages('/v1/admin/review-queue?', 1))
        .filter((item) => item.programId === programId)
        .map((item) => item.id as string);
    expect(await queued()).toEqual([yesterday, weeksAgo]);

    const startedAt = async (id: string) =>
      (await db.selectFrom('referrals').select('review_started_at').where('id', '=', id).executeTakeFirstOrThrow())
        .review_started_at;
    expect(await startedAt(yesterday)).toEqual(new Date('2026-11-30T00:00:05.000Z'));
    await write(yesterday, '2026-11-30T00:00:00.000Z', {
      seq: 3,
      at: '2026-12-02T00:00:00.000Z',
      kind: 'approved',
      status: 'registered',
    });
    expect(await queued()).toEqual([weeksAgo]);
    expect(await startedAt(yesterday)).toBeNull();
  });
});
