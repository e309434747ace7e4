import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { appOver } from '../support/app';

/** The admin list of referrals stopped by a fault, over a real database. */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db));
  for (let i = 0; i < 5; i++) {
    const referralId = randomUUID();
    await db
      .insertInto('referral_faults')
      .values({
        id: `${referralId}:seq-1-projectReferral`,
        referral_id: referralId,
        activity: 'projectReferral',
        failure_type: 'database_data_error',
        message: 'invalid input syntax',
        status: 'registered',
        detail: null,
        created_at: new Date(Date.UTC(2026, 10, 25, 12, 0, i)),
      })
      .execute();
  }
});
afterAll(() => drop());

describe('referral faults', () => {
  it('given faults, when an admin pages through them, then each is listed once, newest first', async () => {
    const first = await api.get('/v1/admin/faults?limit=2', KEYS.admin);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items[0]).toMatchObject({
      activity: 'projectReferral',
      failureType: 'database_data_error',
      status: 'registered',
      createdAt: '2026-11-25T12:00:04.000Z',
    });
    const seen = [...first.body.items];
    let cursor = first.body.nextCursor as string | null;
    while (cursor) {
      const next = await api.get(`/v1/admin/faults?limit=2&cursor=${cursor}`, KEYS.admin);
      seen.push(...next.body.items);
      cursor = next.body.nextCursor;
    }
    expect(seen.map((f) => f.createdAt)).toEqual([4, 3, 2, 1, 0].map((s) => `2026-11-25T12:00:0${s}.000Z`));
  });

  it('given a commerce key, a cursor it never gave out or a limit that is not one, then 403, 422 or 400', async () => {
    expect(await api.get('/v1/admin/faults', KEYS.commerce)).toMatchObject({
      status: 403,
      body: { code: 'forbidden' },
    });
    expect(await api.get('/v1/admin/faults?cursor=bm9wZQ', KEYS.admin)).toMatchObject({
      status: 422,
      body: { code: 'validation_failed' },
    });
    for (const limit of ['0', '201', '0x10', '1e1', '5.0']) {
      expect(await api.get(`/v1/admin/faults?limit=${limit}`, KEYS.admin)).toMatchObject({
        status: 400,
        body: { code: 'validation_failed' },
      });
    }
  });
});
