import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import type { NewReferralRow } from '../../db/schema';
import { encodeCursor } from '../../intake/page-cursor';
import { appOver } from '../support/app';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { insertReferralRow, refereeWithReferral } from '../support/projection-rows';

/**
 * GET /v1/customers/{id}/referrals over a real database: projection rows and counted completions written straight in,
 * as the workflow would leave them. Temporal is never called.
 */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;
/** A programme on the default tiers. */
let plainProgram: string;

const newProgram = async (name: string, terms?: Record<string, unknown>): Promise<string> => {
  const created = await api.post('/v1/admin/programs', KEYS.admin, { name, currency: 'INR', terms });
  expect(created.status).toBe(201);
  return created.body.id;
};

/** A referrer known to the engine: asking for their code creates them. */
const referrer = async (programId: string, name = `ref-${randomUUID()}`): Promise<string> => {
  expect((await api.post(`/v1/customers/${name}/referral-code`, KEYS.commerce, { programId })).status).toBe(201);
  return name;
};

/** `count` completions counted for the referrer, as the workflow records them at each completion. */
async function complete(referrerId: string, count: number): Promise<void> {
  if (count === 0) return;
  await db
    .insertInto('referrer_completions')
    .values(
      Array.from({ length: count }, (_, i) => ({
        referral_id: randomUUID(),
        referrer_id: referrerId,
        ordinal: i + 1,
        completed_at: new Date(),
      })),
    )
    .execute();
}

const referralsOf = (customerId: string, query = '', key = KEYS.commerce) =>
  api.get(`/v1/customers/${encodeURIComponent(customerId)}/referrals${query}`, key);

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db));
  plainProgram = await newProgram('Plain tiers');
});
afterAll(() => drop());

describe('GET /v1/customers/{id}/referrals: the tier', () => {
  it('given a referrer on the default tiers, when their completed referrals reach each threshold, then the tier changes at it and next names the one after', async () => {
    const cases = [
      [0, { name: 'STARTER', multiplier: 1, next: { name: 'PRO', minCompleted: 5 } }],
      [4, { name: 'STARTER', multiplier: 1, next: { name: 'PRO', minCompleted: 5 } }],
      [5, { name: 'PRO', multiplier: 1.25, next: { name: 'ELITE', minCompleted: 15 } }],
      [14, { name: 'PRO', multiplier: 1.25, next: { name: 'ELITE', minCompleted: 15 } }],
      [15, { name: 'ELITE', multiplier: 1.5, next: { name: 'CHAMPION', minCompleted: 30 } }],
      [30, { name: 'CHAMPION', multiplier: 2, next: { name: 'LEGEND', minCompleted: 50 } }],
      [49, { name: 'CHAMPION', multiplier: 2, next: { name: 'LEGEND', minCompleted: 50 } }],
      [50, { name: 'LEGEND', multiplier: 3, next: null }],
      [51, { name: 'LEGEND', multiplier: 3, next: null }],
    ] as const;
    for (const [completed, tier] of cases) {
      const customerId = await referrer(plainProgram);
      await complete(customerId, completed);
      const read = await referralsOf(customerId);
      expect({ completed, status: read.status, tier: read.body.tier }).toEqual({
        completed,
        status: 200,
        tier: { ...tier, completed },
      });
    }
  });

  it('given completions counted for other referrers, when one referrer is read, then only their own count', async () => {
    const [ana, bo] = [await referrer(plainProgram), await referrer(plainProgram)];
    await complete(ana, 5);
    await complete(bo, 2);
    expect((await referralsOf(ana)).body.tier).toMatchObject({ name: 'PRO', completed: 5 });
    expect((await referralsOf(bo)).body.tier).toMatchObject({ name: 'STARTER', completed: 2 });
  });

  it("given a programme with tiers of its own, when its referrer is read, then the tier is by that programme's tiers, as its current version has them", async () => {
    const programId = await newProgram('Own tiers', {
      tiers: [
        { name: 'TOP', minCompleted: 3, multiplier: 2.5 },
        { name: 'BASE', minCompleted: 0, multiplier: 1 },
        { name: 'MID', minCompleted: 1, multiplier: 1.1 },
      ],
    });
    const customerId = await referrer(programId);
    expect((await referralsOf(customerId)).body.tier).toEqual({
      name: 'BASE',
      multiplier: 1,
      completed: 0,
      next: { name: 'MID', minCompleted: 1 },
    });
    await complete(customerId, 2);
    expect((await referralsOf(customerId)).body.tier).toEqual({
      name: 'MID',
      multiplier: 1.1,
      completed: 2,
      next: { name: 'TOP', minCompleted: 3 },
    });
    // a new version's tiers are the ones new referrals run under: the tier is read by them
    await api.post(`/v1/admin/programs/${programId}/versions`, KEYS.admin, {
      terms: {
        tiers: [
          { name: 'BASE', minCompleted: 0, multiplier: 1 },
          { name: 'DOUBLE', minCompleted: 2, multiplier: 2 },
        ],
      },
    });
    expect((await referralsOf(customerId)).body.tier).toEqual({
      name: 'DOUBLE',
      multiplier: 2,
      completed: 2,
      next: null,
    });
  });

  it("given a customer with codes in two programmes, when they are read, then the newest code's programme gives the tiers, whichever programme is newer", async () => {
    const own = await newProgram('Newest code', {
      tiers: [
        { name: 'FIRST', minCompleted: 0, multiplier: 1 },
        { name: 'SECOND', minCompleted: 1, multiplier: 4 },
      ],
    });
    const customerId = await referrer(own);
    expect(
      (await api.post(`/v1/customers/${customerId}/referral-code`, KEYS.commerce, { programId: plainProgram })).status,
    ).toBe(201);
    await complete(customerId, 1);
    const setCodeCreated = (programId: string, at: string) =>
      db
        .updateTable('referral_codes')
        .set({ created_at: at })
        .where('customer_id', '=', customerId)
        .where('program_id', '=', programId)
        .execute();
    await setCodeCreated(own, '2026-01-01T00:00:00Z');
    await setCodeCreated(plainProgram, '2026-02-01T00:00:00Z');
    expect((await referralsOf(customerId)).body.tier).toMatchObject({ name: 'STARTER', multiplier: 1 });
    await setCodeCreated(own, '2026-03-01T00:00:00Z');
    expect((await referralsOf(customerId)).body.tier).toMatchObject({ name: 'SECOND', multiplier: 4, next: null });
  });

  it('given a customer the engine knows without a code (a referee), when they are read, then they stand on the default tiers with nothing sent', async () => {
    const { customerId } = await refereeWithReferral(db, plainProgram, null);
    expect(await referralsOf(customerId)).toMatchObject({
      status: 200,
      body: {
        customerId,
        tier: { name: 'STARTER', multiplier: 1, completed: 0, next: { name: 'PRO', minCompleted: 5 } },
        stats: { sent: 0, registered: 0, qualified: 0, completed: 0, expired: 0, rejected: 0 },
        items: [],
        nextCursor: null,
      },
    });
  });
});

describe('GET /v1/customers/{id}/referrals: stats and items', () => {
  it('given referrals the customer sent in every status, one they were referred by and others of other referrers, when they are read, then stats count their sent ones by how far each got and items are those, newest first', async () => {
    const customerId = await referrer(plainProgram);
    const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
    const sent: Array<Partial<NewReferralRow>> = [
      { status: 'pending', registered_at: null },
      { status: 'registered' },
      { status: 'under_review' },
      { status: 'qualified', qualified_at: at(30) },
      { status: 'completed', qualified_at: at(30), completed_at: at(40) },
      { status: 'completed', qualified_at: at(30), completed_at: at(40) },
      // expired while pending: never registered
      { status: 'expired', registered_at: null, end_reason: 'referral_expired' },
      { status: 'expired', end_reason: 'qualification_window_closed' },
      // qualified, then a refund during the hold after the window closed
      { status: 'expired', qualified_at: at(30), end_reason: 'qualification_window_closed' },
      { status: 'rejected', end_reason: 'rejected' },
      { status: 'cancelled', registered_at: null, end_reason: 'cancelled' },
    ];
    const ids: string[] = [];
    for (const [i, row] of sent.entries()) {
      const inserted = await insertReferralRow(db, {
        program_id: plainProgram,
        referrer_id: customerId,
        created_at: at(i),
        ...row,
      });
      ids.push(inserted.id);
    }
    // referred by someone else, and another referrer's referrals: none of them sent by this customer
    const other = await referrer(plainProgram);
    await insertReferralRow(db, { program_id: plainProgram, referrer_id: other, referee_id: customerId });
    await insertReferralRow(db, { program_id: plainProgram, referrer_id: other, status: 'completed' });

    const read = await referralsOf(customerId);
    expect(read.status).toBe(200);
    expect(read.body.stats).toEqual({ sent: 11, registered: 8, qualified: 4, completed: 2, expired: 3, rejected: 1 });
    expect(read.body.items.map((item: { id: string }) => item.id)).toEqual([...ids].reverse());
    expect(read.body.nextCursor).toBeNull();
    // the referral view the admin list gives
    const admin = await api.get(`/v1/admin/referrals?referrerId=${customerId}`, KEYS.admin);
    expect(read.body.items).toEqual(admin.body.items);
    expect(read.body.items[0]).toMatchObject({ id: ids.at(-1), status: 'cancelled', referrerId: customerId });
  });

  it('given 7 referrals sent, 2 of them in the same instant, when they are paged 3 at a time, then each comes once, newest first, and the last page has no cursor; stats count them all on every page', async () => {
    const customerId = await referrer(plainProgram);
    const created = [1, 2, 3, 3, 4, 5, 6].map((minute) => new Date(Date.UTC(2026, 1, 1, 0, minute)));
    const rows: Array<Awaited<ReturnType<typeof insertReferralRow>>> = [];
    for (const createdAt of created)
      rows.push(
        await insertReferralRow(db, { program_id: plainProgram, referrer_id: customerId, created_at: createdAt }),
      );
    // newest first; the id breaks the tie between the two of one instant
    const time = (row: (typeof rows)[number]) => (row.created_at as Date).getTime();
    const expected = rows.toSorted((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : -1)).map((row) => row.id);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page = await referralsOf(
        customerId,
        `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        KEYS.admin,
      );
      expect(page.status).toBe(200);
      expect(page.body.stats.sent).toBe(7);
      pages.push(page.body.items.map((item: { id: string }) => item.id));
      cursor = page.body.nextCursor;
    } while (cursor && pages.length < 10);
    expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(expected);

    // 50 when no limit is given
    for (let i = 0; i < 50; i++)
      await insertReferralRow(db, { program_id: plainProgram, referrer_id: customerId, created_at: new Date() });
    const first = await referralsOf(customerId);
    expect(first.body.items).toHaveLength(50);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const rest = await referralsOf(customerId, `?cursor=${encodeURIComponent(first.body.nextCursor)}`);
    expect(rest.body.items).toHaveLength(7);
    expect(rest.body.nextCursor).toBeNull();
  });
});

describe('GET /v1/customers/{id}/referrals: refusals', () => {
  it('given a customer the engine never saw, when they are read, then 404 not_found, with either key', async () => {
    for (const key of [KEYS.commerce, KEYS.admin])
      expect(await referralsOf('nobody-ever', '', key)).toMatchObject({
        status: 404,
        contentType: 'application/problem+json',
        body: { code: 'not_found' },
      });
  });

  it('given no key or an unknown one, when the list is asked for, then 401', async () => {
    const customerId = await referrer(plainProgram);
    expect((await api.get(`/v1/customers/${customerId}/referrals`)).status).toBe(401);
    expect((await api.get(`/v1/customers/${customerId}/referrals`, 'not-a-key')).status).toBe(401);
  });

  it('given a limit that is not plain digits from 1 to 200, or an empty cursor, when the list is asked for, then 400 validation_failed naming it', async () => {
    const customerId = await referrer(plainProgram);
    for (const [query, path] of [
      ['?limit=0', 'limit'],
      ['?limit=201', 'limit'],
      ['?limit=-1', 'limit'],
      ['?limit=1e1', 'limit'],
      ['?limit=0x10', 'limit'],
      ['?limit=ten', 'limit'],
      ['?limit=', 'limit'],
      ['?cursor=', 'cursor'],
    ] as const) {
      const refused = await referralsOf(customerId, query);
      expect({ query, status: refused.status, code: refused.body.code }).toEqual({
        query,
        status: 400,
        code: 'validation_failed',
      });
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    // judged before the customer is looked up
    expect((await referralsOf('nobody-ever', '?limit=0')).status).toBe(400);
    expect((await referralsOf(customerId, '?limit=200')).status).toBe(200);
  });

  it('given a cursor the document allows that the list never gave out (another list’s, a bad key, not one at all), when the list is asked for, then 422 validation_failed naming it, whoever the customer is', async () => {
    const customerId = await referrer(plainProgram);
    const reviewQueueCursor = encodeCursor({
      list: 'review-queue',
      createdAt: '2026-01-01T00:00:00.000000Z',
      id: randomUUID(),
    });
    const badKey = encodeCursor({ list: 'referrals', createdAt: '2026-01-01T00:00:00Z', id: 'not-a-uuid' });
    for (const cursor of ['0', 'garbage', reviewQueueCursor, badKey]) {
      for (const customer of [customerId, 'nobody-ever']) {
        const refused = await referralsOf(customer, `?cursor=${encodeURIComponent(cursor)}`);
        expect({ cursor, status: refused.status, code: refused.body.code }).toEqual({
          cursor,
          status: 422,
          code: 'validation_failed',
        });
        expect(refused.body.errors).toEqual([{ path: 'cursor', message: expect.any(String) }]);
      }
    }
    // a cursor the admin list gave out, narrowed to this referrer, is a place in the same order: the customer's list
    // takes it
    const older = await insertReferralRow(db, {
      program_id: plainProgram,
      referrer_id: customerId,
      created_at: new Date(Date.UTC(2026, 2, 1)),
    });
    await insertReferralRow(db, {
      program_id: plainProgram,
      referrer_id: customerId,
      created_at: new Date(Date.UTC(2026, 2, 2)),
    });
    const admin = await api.get(`/v1/admin/referrals?referrerId=${customerId}&limit=1`, KEYS.admin);
    const next = await referralsOf(customerId, `?cursor=${encodeURIComponent(admin.body.nextCursor)}`);
    expect(next.body.items.map((item: { id: string }) => item.id)).toEqual([older.id]);
  });
});
