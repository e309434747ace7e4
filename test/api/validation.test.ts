import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { DB } from '../../db/connection';
import { TASK_QUEUE } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { appOver, untouchableTemporal } from '../support/app';

/**
 * Bad input against the real routes and a real database, with a Temporal client that fails the test if it is
 * touched: a refusal must be decided before anything is started or signalled.
 */
let db: DB;
let drop: () => Promise<void>;
let temporalCalls = 0;
const untouchable = untouchableTemporal(() => (temporalCalls += 1));

let api: ReturnType<typeof httpClient>;
let programId: string;
let annaCode: string;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db, { temporal: untouchable }));
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Validation', currency: 'INR' })).body.id;
  annaCode = (await api.post('/v1/customers/anna/referral-code', KEYS.commerce, { programId })).body.code;
});
afterAll(() => drop());

const order = (overrides: Record<string, unknown> = {}) => ({
  eventId: 'o-1',
  customerId: 'ben',
  orderId: 'A1',
  status: 'completed',
  amount: 60_000,
  currency: 'INR',
  occurredAt: new Date().toISOString(),
  ...overrides,
});

async function expectProblem(
  result: Promise<{ status: number; contentType: string | null; body: any }>,
  status: number,
  code: string,
) {
  const { status: actual, contentType, body } = await result;
  expect({ status: actual, code: body?.code }).toEqual({ status, code });
  expect(contentType).toBe('application/problem+json');
  expect(body).toMatchObject({
    type: `urn:referrals:problem:${code}`,
    status,
    title: expect.any(String),
    detail: expect.any(String),
  });
  return body;
}

const inboxSize = async () =>
  Number(
    (
      await db
        .selectFrom('inbox_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('authentication', () => {
  it('when no key is sent, then 401 unauthorized', () =>
    expectProblem(api.post('/v1/events/orders', undefined, order()), 401, 'unauthorized'));
  it('when an unknown key is sent, then 401 unauthorized', () =>
    expectProblem(api.post('/v1/events/orders', 'nope-nope-nope-nope', order()), 401, 'unauthorized'));
  it('when a commerce key calls an admin route, then 403 forbidden', () =>
    expectProblem(api.post('/v1/admin/programs', KEYS.commerce, { name: 'x', currency: 'INR' }), 403, 'forbidden'));
  it('when health is probed, then no key is needed', async () => expect((await api.get('/healthz')).status).toBe(200));
});

describe('malformed input changes nothing', () => {
  it('when the body is not JSON, then 400 invalid_json', () =>
    expectProblem(api.post('/v1/events/orders', KEYS.commerce, '{"eventId": '), 400, 'invalid_json'));

  it('when fields have the wrong types, then 400 validation_failed naming each field', async () => {
    const body = await expectProblem(
      api.post('/v1/events/orders', KEYS.commerce, order({ amount: '600', orderId: 7 })),
      400,
      'validation_failed',
    );
    expect(body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['amount', 'orderId']);
  });

  it('when the amount is negative or fractional, then 400 validation_failed', async () => {
    await expectProblem(api.post('/v1/events/orders', KEYS.commerce, order({ amount: -1 })), 400, 'validation_failed');
    await expectProblem(
      api.post('/v1/events/orders', KEYS.commerce, order({ amount: 10.5 })),
      400,
      'validation_failed',
    );
  });

  it('when the currency is not ISO 4217, then 400 validation_failed on currency', async () => {
    const body = await expectProblem(
      api.post('/v1/events/orders', KEYS.commerce, order({ currency: 'XYZ' })),
      400,
      'validation_failed',
    );
    expect(body.errors).toEqual([{ path: 'currency', message: expect.stringContaining('currency') }]);
  });

  // 422, not 400: the body matches the schema, and a rule that depends on the moment of receipt refuses it.
  it('when occurredAt is more than 5 minutes ahead, then 422 validation_failed', () =>
    expectProblem(
      api.post(
        '/v1/events/orders',
        KEYS.commerce,
        order({ occurredAt: new Date(Date.now() + 6 * 60_000).toISOString() }),
      ),
      422,
      'validation_failed',
    ));

  it('when the status is unknown or a field is extra, then 400 validation_failed', async () => {
    await expectProblem(
      api.post('/v1/events/orders', KEYS.commerce, order({ status: 'shipped' })),
      400,
      'validation_failed',
    );
    await expectProblem(api.post('/v1/events/orders', KEYS.commerce, order({ price: 1 })), 400, 'validation_failed');
  });

  it('when the body is larger than 64 KiB, then 413 payload_too_large', () =>
    expectProblem(
      api.post('/v1/events/orders', KEYS.commerce, order({ orderId: 'x'.repeat(70_000) })),
      413,
      'payload_too_large',
    ));

  it('when a programme has a duration that is not one, then 400 validation_failed', () =>
    expectProblem(
      api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { rewardHold: 'soon' } }),
      400,
      'validation_failed',
    ));

  it('when a page size is not plain digits from 1 to 200, then 400 validation_failed naming limit; plain digits are taken', async () => {
    for (const limit of ['0x10', '1e1', '%205%20', '0', '201', '05', '-1', '']) {
      const body = await expectProblem(
        api.get(`/v1/admin/events/failed?limit=${limit}`, KEYS.admin),
        400,
        'validation_failed',
      );
      expect(body.errors.map((e: { path: string }) => e.path)).toEqual(['limit']);
    }
    for (const query of ['?limit=5', '?limit=200', ''])
      expect((await api.get(`/v1/admin/events/failed${query}`, KEYS.admin)).status).toBe(200);
  });

  it('after all of the above, then the inbox is empty and Temporal was never called', async () => {
    expect(await inboxSize()).toBe(0);
    expect(temporalCalls).toBe(0);
  });
});

describe('rule violations change nothing', () => {
  it('when a signup carries an unknown code, then 422 unknown_code', () =>
    expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, { eventId: 's-1', customerId: 'ben', code: 'NOSUCH99' }),
      422,
      'unknown_code',
    ));

  it('when a claim carries an unknown code, then 422 unknown_code', () =>
    expectProblem(api.post('/v1/referrals', KEYS.commerce, { code: 'NOSUCH99' }), 422, 'unknown_code'));

  it('when the referrer signs up with their own code, then 422 self_referral', () =>
    expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, { eventId: 's-2', customerId: 'anna', code: annaCode }),
      422,
      'self_referral',
    ));

  it('when the referee has the referrer’s e-mail, then 422 self_referral', async () => {
    await api.post('/v1/events/signups', KEYS.commerce, {
      eventId: 's-anna',
      customerId: 'anna',
      email: 'anna@example.com',
    });
    await expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, {
        eventId: 's-3',
        customerId: 'anna-alt',
        code: annaCode,
        email: 'ANNA@Example.com',
      }),
      422,
      'self_referral',
    );
  });

  it('when the customer was already referred, then 409 already_referred', async () => {
    await db
      .insertInto('customers')
      .values({
        id: 'carl',
        email_normalized: null,
        phone_normalized: null,
        referred_by_referral_id: '00000000-0000-4000-8000-000000000000',
      })
      .execute();
    await expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, { eventId: 's-4', customerId: 'carl', code: annaCode }),
      409,
      'already_referred',
    );
  });

  it('when the programme is inactive, then signups and claims get 409 program_inactive', async () => {
    await api.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: false });
    await expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, { eventId: 's-5', customerId: 'dora', code: annaCode }),
      409,
      'program_inactive',
    );
    await expectProblem(api.post('/v1/referrals', KEYS.commerce, { code: annaCode }), 409, 'program_inactive');
    await api.patch(`/v1/admin/programs/${programId}`, KEYS.admin, { active: true });
  });

  it('when a plain signup’s eventId is reused with other contact details, then 409 and the customer keeps the first ones', async () => {
    await expectProblem(
      api.post('/v1/events/signups', KEYS.commerce, {
        eventId: 's-anna',
        customerId: 'anna',
        email: 'someone@else.com',
      }),
      409,
      'idempotency_conflict',
    );
    const anna = await db
      .selectFrom('customers')
      .select('email_normalized')
      .where('id', '=', 'anna')
      .executeTakeFirstOrThrow();
    expect(anna.email_normalized).toBe('anna@example.com');
  });

  it('after all of the above, then the refused signups were kept as refused (for replays), none waits for delivery, no customer was reserved and Temporal was never called', async () => {
    const kept = await db
      .selectFrom('inbox_events')
      .select(['event_id', 'state', 'response'])
      .orderBy('event_id')
      .execute();
    expect(kept.filter((e) => e.state !== 'ignored').map((e) => [e.event_id, e.state])).toEqual([
      ['s-anna', 'delivered'],
    ]);
    for (const refused of kept.filter((e) => e.state === 'ignored'))
      expect(refused.response).toMatchObject({ refusal: { code: expect.any(String) } });
    // carl was reserved by the test itself, as a customer referred before
    const reserved = await db
      .selectFrom('customers')
      .select('id')
      .where('referred_by_referral_id', 'is not', null)
      .execute();
    expect(reserved).toEqual([{ id: 'carl' }]);
    expect(temporalCalls).toBe(0);
  });
});

describe('programmes and codes', () => {
  it('when a programme sets its reward terms, then they are kept and shown; left out, the defaults are shown; a time zone nobody knows is 422', async () => {
    const rewards = {
      refereeVoucher: { amount: 2500, validFor: '14 days' },
      referrerPoints: 500,
      milestone: { orders: 5 },
      pointValidity: '3 months',
      timeZone: 'Asia/Kolkata',
    };
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Rewards',
      currency: 'INR',
      terms: rewards,
    });
    expect(created).toMatchObject({
      status: 201,
      body: { terms: { ...rewards, milestone: { orders: 5, window: '90 days', points: 200 } } },
    });
    const plain = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Plain', currency: 'INR' });
    expect(plain.body.terms).toMatchObject({
      refereeVoucher: { amount: 5000, validFor: '30 days' },
      referrerPoints: 2000,
      milestone: { orders: 3, window: '90 days', points: 200 },
      pointValidity: '6 months',
      timeZone: 'UTC',
    });
    await expectProblem(
      api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { timeZone: 'Mars/Olympus' } }),
      422,
      'validation_failed',
    );
    await expectProblem(
      api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { pointValidity: '0 months' } }),
      400,
      'validation_failed',
    );
    await expectProblem(
      api.post('/v1/admin/programs', KEYS.admin, {
        name: 'x',
        currency: 'INR',
        terms: { refereeVoucher: { amount: 0 } },
      }),
      400,
      'validation_failed',
    );
  });

  it('when a programme is created with some terms, then the others take the defaults, and a new version keeps the old one', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Demo',
      currency: 'USD',
      terms: { qualificationWindow: '5s' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      version: 1,
      currency: 'USD',
      terms: {
        qualificationWindow: '5s',
        referralExpiry: '90 days',
        minOrders: 1,
        minSpend: 50_000,
        rewardHold: '7 days',
      },
    });
    const v2 = await api.post(`/v1/admin/programs/${created.body.id}/versions`, KEYS.admin, {
      terms: { minSpend: 1000 },
    });
    expect(v2.status).toBe(201);
    expect(v2.body.version).toBe(2);
    expect(v2.body.versions.map((v: { terms: { minSpend: number } }) => v.terms.minSpend)).toEqual([50_000, 1000]);
  });

  it('when a reward is of zero points or a zero voucher, then 400 validation_failed and no programme or version is written', async () => {
    const existing = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Zero', currency: 'INR' })).body.id;
    const count = async (table: 'programs' | 'program_versions') =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = [await count('programs'), await count('program_versions')];
    for (const terms of [
      { referrerPoints: 0 },
      { milestone: { points: 0 } },
      { milestone: { orders: 2, points: 0 } },
      { refereeVoucher: { amount: 0 } },
    ]) {
      const created = await expectProblem(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms }),
        400,
        'validation_failed',
      );
      expect(created.errors[0].path).toMatch(/^terms\.(referrerPoints|milestone\.points|refereeVoucher\.amount)$/);
      await expectProblem(
        api.post(`/v1/admin/programs/${existing}/versions`, KEYS.admin, { terms }),
        400,
        'validation_failed',
      );
    }
    expect([await count('programs'), await count('program_versions')]).toEqual(before);
  });

  it('when points are valid for whole years, then the term is taken; a fraction of a year is 400 validation_failed', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Yearly',
      currency: 'INR',
      terms: { pointValidity: '1 year' },
    });
    expect(created).toMatchObject({ status: 201, body: { terms: { pointValidity: '1 year' } } });
    for (const pointValidity of ['1.5 years', '0.5y', '11 years']) {
      const refused = await expectProblem(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { pointValidity } }),
        400,
        'validation_failed',
      );
      expect(refused.errors).toContainEqual({
        path: 'terms.pointValidity',
        message: expect.stringMatching(/whole years/),
      });
    }
  });

  it('when a programme version is published, then its stored terms hold the reward terms it runs with, defaults filled in', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Stored', currency: 'INR' });
    const v2 = await api.post(`/v1/admin/programs/${created.body.id}/versions`, KEYS.admin, {
      terms: { refereeVoucher: { amount: 700 }, milestone: { points: 50 }, timeZone: 'Asia/Kolkata' },
    });
    expect(v2.status).toBe(201);
    const stored = await db
      .selectFrom('program_versions')
      .select(['version', 'terms'])
      .where('program_id', '=', created.body.id)
      .orderBy('version')
      .execute();
    const rewardDefaults = {
      refereeVoucher: { amount: 5000, validFor: '30 days' },
      referrerPoints: 2000,
      milestone: { orders: 3, window: '90 days', points: 200 },
      pointValidity: '6 months',
      timeZone: 'UTC',
    };
    expect(stored).toEqual([
      { version: 1, terms: expect.objectContaining(rewardDefaults) },
      {
        version: 2,
        terms: expect.objectContaining({
          ...rewardDefaults,
          refereeVoucher: { amount: 700, validFor: '30 days' },
          milestone: { orders: 3, window: '90 days', points: 50 },
          timeZone: 'Asia/Kolkata',
        }),
      },
    ]);
    // what is stored is what the programme shows
    expect(v2.body.versions.map((v: { terms: unknown }) => v.terms)).toEqual(stored.map((v) => v.terms));
  });

  it('when a programme sets some review terms, then they are kept and shown, the others defaulted; left out, the defaults are stored and shown', async () => {
    const reviewDefaults = {
      flagsToReview: 2,
      decisionWindow: '14 days',
      velocityLimit: 10,
      velocityWindow: '24 hours',
    };
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Reviewed',
      currency: 'INR',
      terms: { review: { flagsToReview: 1, velocityWindow: '1 hour' } },
    });
    expect(created).toMatchObject({
      status: 201,
      body: { terms: { review: { ...reviewDefaults, flagsToReview: 1, velocityWindow: '1 hour' } } },
    });
    const v2 = await api.post(`/v1/admin/programs/${created.body.id}/versions`, KEYS.admin, {
      terms: { review: { decisionWindow: '3 days', velocityLimit: 25 } },
    });
    expect(v2.status).toBe(201);
    const stored = await db
      .selectFrom('program_versions')
      .select(['version', 'terms'])
      .where('program_id', '=', created.body.id)
      .orderBy('version')
      .execute();
    expect(stored.map((v) => v.terms.review)).toEqual([
      { ...reviewDefaults, flagsToReview: 1, velocityWindow: '1 hour' },
      { ...reviewDefaults, decisionWindow: '3 days', velocityLimit: 25 },
    ]);
    expect(v2.body.versions.map((v: { terms: { review: unknown } }) => v.terms.review)).toEqual(
      stored.map((v) => v.terms.review),
    );
    const plain = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Unreviewed', currency: 'INR' });
    expect(plain.body.terms.review).toEqual(reviewDefaults);
  });

  it('when a review term is out of range, fractional, not a duration or unknown, then 400 validation_failed naming it and nothing is written', async () => {
    const existing = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Review bounds', currency: 'INR' })).body
      .id;
    const count = async () =>
      Number(
        (
          await db
            .selectFrom('program_versions')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    for (const [review, path] of [
      [{ flagsToReview: 0 }, 'terms.review.flagsToReview'],
      // four flags exist: a fifth could never be reached
      [{ flagsToReview: 5 }, 'terms.review.flagsToReview'],
      [{ flagsToReview: 1.5 }, 'terms.review.flagsToReview'],
      [{ velocityLimit: 0 }, 'terms.review.velocityLimit'],
      [{ velocityLimit: 2.5 }, 'terms.review.velocityLimit'],
      [{ decisionWindow: '0s' }, 'terms.review.decisionWindow'],
      [{ decisionWindow: 'two weeks' }, 'terms.review.decisionWindow'],
      [{ velocityWindow: '-1 hour' }, 'terms.review.velocityWindow'],
      [{ velocityWindow: 86_400_000 }, 'terms.review.velocityWindow'],
      [{ flags: 2 }, 'terms.review'],
    ] as const) {
      const created = await expectProblem(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { review } }),
        400,
        'validation_failed',
      );
      expect(created.errors.map((e: { path: string }) => e.path)).toContain(path);
      await expectProblem(
        api.post(`/v1/admin/programs/${existing}/versions`, KEYS.admin, { terms: { review } }),
        400,
        'validation_failed',
      );
    }
    expect(await count()).toBe(before);
  });

  it('when a programme sets its tiers, then they are stored and shown lowest first; left out, the default five are stored and shown, and a version stored before tiers existed shows them too', async () => {
    const defaultTiers = [
      { name: 'STARTER', minCompleted: 0, multiplier: 1 },
      { name: 'PRO', minCompleted: 5, multiplier: 1.25 },
      { name: 'ELITE', minCompleted: 15, multiplier: 1.5 },
      { name: 'CHAMPION', minCompleted: 30, multiplier: 2 },
      { name: 'LEGEND', minCompleted: 50, multiplier: 3 },
    ];
    const tiers = [
      { name: 'GOLD_2', minCompleted: 1_000_000, multiplier: 100 },
      { name: 'BRONZE', minCompleted: 0, multiplier: 0.01 },
      { name: 'SILVER', minCompleted: 3, multiplier: 1.15 },
    ];
    const lowestFirst = [tiers[1], tiers[2], tiers[0]];
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Tiered',
      currency: 'INR',
      terms: { tiers },
    });
    expect(created).toMatchObject({ status: 201, body: { terms: { tiers: lowestFirst } } });
    const v2 = await api.post(`/v1/admin/programs/${created.body.id}/versions`, KEYS.admin, {
      terms: { tiers: [{ name: 'ONLY', minCompleted: 0, multiplier: 2 }] },
    });
    const v3 = await api.post(`/v1/admin/programs/${created.body.id}/versions`, KEYS.admin, { terms: {} });
    expect([v2.status, v3.status]).toEqual([201, 201]);
    const stored = await db
      .selectFrom('program_versions')
      .select(['version', 'terms'])
      .where('program_id', '=', created.body.id)
      .orderBy('version')
      .execute();
    expect(stored.map((v) => v.terms.tiers)).toEqual([
      lowestFirst,
      [{ name: 'ONLY', minCompleted: 0, multiplier: 2 }],
      defaultTiers,
    ]);
    expect(v3.body.versions.map((v: { terms: { tiers: unknown } }) => v.terms.tiers)).toEqual(
      stored.map((v) => v.terms.tiers),
    );
    const plain = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Untiered', currency: 'INR' });
    expect(plain.body.terms.tiers).toEqual(defaultTiers);

    // a version published before the term existed runs with the default tiers, and shows them
    await db
      .updateTable('program_versions')
      .set({ terms: sql`terms - 'tiers'` })
      .where('program_id', '=', created.body.id)
      .where('version', '=', 3)
      .execute();
    const older = await api.get(`/v1/admin/programs/${created.body.id}`, KEYS.admin);
    expect(older.body.versions[2].terms.tiers).toEqual(defaultTiers);
    expect(older.body.terms.tiers).toEqual(defaultTiers);
  });

  it('when the referrer points at the highest tier would pass what one credit may pay, then 422 validation_failed and nothing is written; at the bound it is taken', async () => {
    const existing = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Payable', currency: 'INR' })).body.id;
    const tiers = [
      { name: 'BASE', minCompleted: 0, multiplier: 1 },
      { name: 'TOP', minCompleted: 5, multiplier: 100 },
    ];
    const refused = await expectProblem(
      api.post('/v1/admin/programs', KEYS.admin, {
        name: 'x',
        currency: 'INR',
        terms: { referrerPoints: 10_000_001, tiers },
      }),
      422,
      'validation_failed',
    );
    expect(refused.errors[0].path).toBe('terms.referrerPoints');
    // the default tiers multiply by up to 3: a billion points cannot be paid at LEGEND
    const byDefault = await expectProblem(
      api.post(`/v1/admin/programs/${existing}/versions`, KEYS.admin, { terms: { referrerPoints: 1_000_000_000 } }),
      422,
      'validation_failed',
    );
    expect(byDefault.errors[0].path).toBe('terms.referrerPoints');
    expect((await api.get(`/v1/admin/programs/${existing}`, KEYS.admin)).body.version).toBe(1);
    const atBound = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'x',
      currency: 'INR',
      terms: { referrerPoints: 10_000_000, tiers },
    });
    expect(atBound.status).toBe(201);
  });

  it('when tiers are too many or none, a name, threshold or multiplier is out of bounds, no tier starts at 0 or a field is unknown, then 400 validation_failed naming it and nothing is written', async () => {
    const existing = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Tier bounds', currency: 'INR' })).body
      .id;
    const count = async () =>
      Number(
        (
          await db
            .selectFrom('program_versions')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const base = { name: 'BASE', minCompleted: 0, multiplier: 1 };
    const withTier = (tier: Record<string, unknown>) => [
      base,
      { name: 'OTHER', minCompleted: 5, multiplier: 2, ...tier },
    ];
    for (const [tiers, path] of [
      [[], 'terms.tiers'],
      [Array.from({ length: 11 }, (_, i) => ({ name: `T${i}`, minCompleted: i, multiplier: 1 })), 'terms.tiers'],
      [withTier({ name: '' }), 'terms.tiers.1.name'],
      [withTier({ name: 'pro' }), 'terms.tiers.1.name'],
      [withTier({ name: 'PRO-1' }), 'terms.tiers.1.name'],
      [withTier({ name: 'X'.repeat(41) }), 'terms.tiers.1.name'],
      [withTier({ minCompleted: -1 }), 'terms.tiers.1.minCompleted'],
      [withTier({ minCompleted: 2.5 }), 'terms.tiers.1.minCompleted'],
      [withTier({ minCompleted: 1_000_001 }), 'terms.tiers.1.minCompleted'],
      [withTier({ multiplier: 0 }), 'terms.tiers.1.multiplier'],
      [withTier({ multiplier: -1 }), 'terms.tiers.1.multiplier'],
      [withTier({ multiplier: 100.01 }), 'terms.tiers.1.multiplier'],
      [withTier({ multiplier: 1.005 }), 'terms.tiers.1.multiplier'],
      [withTier({ multiplier: '2' }), 'terms.tiers.1.multiplier'],
      [withTier({ bonus: 1 }), 'terms.tiers.1'],
      [[{ name: 'PRO', minCompleted: 5 }], 'terms.tiers.0.multiplier'],
      [[{ name: 'PRO', minCompleted: 5, multiplier: 2 }], 'terms.tiers'],
      [{ STARTER: 0 }, 'terms.tiers'],
    ] as const) {
      const created = await expectProblem(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { tiers } }),
        400,
        'validation_failed',
      );
      expect(created.errors.map((e: { path: string }) => e.path)).toContain(path);
      await expectProblem(
        api.post(`/v1/admin/programs/${existing}/versions`, KEYS.admin, { terms: { tiers } }),
        400,
        'validation_failed',
      );
    }
    expect(await count()).toBe(before);
  });

  it('when two tiers share a name or a threshold, then 422 validation_failed naming the later one (the document cannot say it) and nothing is written', async () => {
    const existing = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Tier clash', currency: 'INR' })).body
      .id;
    const versions = async () =>
      (await db.selectFrom('program_versions').select('version').where('program_id', '=', existing).execute()).length;
    for (const [tiers, path] of [
      [
        [
          { name: 'BASE', minCompleted: 0, multiplier: 1 },
          { name: 'BASE', minCompleted: 5, multiplier: 2 },
        ],
        'terms.tiers.1.name',
      ],
      [
        [
          { name: 'BASE', minCompleted: 0, multiplier: 1 },
          { name: 'PRO', minCompleted: 5, multiplier: 2 },
          { name: 'ACE', minCompleted: 5, multiplier: 3 },
        ],
        'terms.tiers.2.minCompleted',
      ],
    ] as const) {
      const created = await expectProblem(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'Clash', currency: 'INR', terms: { tiers } }),
        422,
        'validation_failed',
      );
      expect(created.errors).toEqual([{ path, message: expect.any(String) }]);
      await expectProblem(
        api.post(`/v1/admin/programs/${existing}/versions`, KEYS.admin, { terms: { tiers } }),
        422,
        'validation_failed',
      );
    }
    expect(await versions()).toBe(1);
    expect(await db.selectFrom('programs').select('id').where('name', '=', 'Clash').execute()).toEqual([]);
  });

  it('when the referrer asks for a code with a context, then its IP and device are kept once each with their first sighting; a context with an unknown field is 400', async () => {
    const kept = () =>
      db
        .selectFrom('customer_contexts')
        .select(['kind', 'value', 'first_seen_at'])
        .where('customer_id', '=', 'fay')
        .orderBy('kind')
        .execute();
    const first = await api.post('/v1/customers/fay/referral-code', KEYS.commerce, {
      programId,
      context: { ip: '203.0.113.9', deviceId: 'fay-phone' },
    });
    expect(first.status).toBe(201);
    const seen = await kept();
    expect(seen).toEqual([
      { kind: 'device', value: 'fay-phone', first_seen_at: expect.any(Date) },
      { kind: 'ip', value: '203.0.113.9', first_seen_at: expect.any(Date) },
    ]);
    const again = await api.post('/v1/customers/fay/referral-code', KEYS.commerce, {
      programId,
      context: { ip: '203.0.113.9', deviceId: 'fay-phone' },
    });
    expect(again.status).toBe(200);
    expect(await kept()).toEqual(seen);
    const refused = await expectProblem(
      api.post('/v1/customers/fay/referral-code', KEYS.commerce, {
        programId,
        context: { ip: '198.51.100.1', userAgent: 'x' },
      }),
      400,
      'validation_failed',
    );
    expect(refused.errors.map((e: { path: string }) => e.path)).toEqual(['context']);
    expect(await kept()).toEqual(seen);
  });

  it('when a code is requested twice, then the first is 201 and the second 200 with the same code', async () => {
    const first = await api.post('/v1/customers/erin/referral-code', KEYS.commerce, { programId });
    const second = await api.post('/v1/customers/erin/referral-code', KEYS.commerce, { programId });
    expect([first.status, second.status]).toEqual([201, 200]);
    expect(second.body.code).toBe(first.body.code);
    expect(first.body.code).toMatch(/^[A-Z0-9]{6,10}$/);
    expect((await api.get(`/v1/customers/erin/referral-code?programId=${programId}`, KEYS.commerce)).body.code).toBe(
      first.body.code,
    );
  });
});

describe('Temporal unreachable', () => {
  it('when a claim cannot reach Temporal, then 503 temporarily_unavailable, not a bare 500', async () => {
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established',
      metadata: {},
    });
    const down = new Proxy({}, { get: () => () => Promise.reject(unavailable) }) as Client;
    const app = createApp({
      db,
      temporal: down,
      clock: () => new Date(),
      apiKeys: API_KEYS,
      logger: pino({ level: 'silent' }),
      taskQueue: TASK_QUEUE,
    });
    const viaDown = httpClient(async (path, init) => app.request(path, init));
    await expectProblem(
      viaDown.post('/v1/referrals', KEYS.commerce, { code: annaCode }),
      503,
      'temporarily_unavailable',
    );
  });
});

describe('OpenAPI document', () => {
  it('when /openapi.json is read, then it lists every route with its problem responses', async () => {
    const { status, body } = await api.get('/openapi.json');
    expect(status).toBe(200);
    expect(Object.keys(body.paths).sort()).toEqual([
      '/v1/admin/audit',
      '/v1/admin/customers/{id}',
      '/v1/admin/customers/{id}/points/adjustments',
      '/v1/admin/events/failed',
      '/v1/admin/events/{eventId}/redelivery',
      '/v1/admin/faults',
      '/v1/admin/programs',
      '/v1/admin/programs/{id}',
      '/v1/admin/programs/{id}/moves',
      '/v1/admin/programs/{id}/moves/{moveId}',
      '/v1/admin/programs/{id}/moves/{moveId}/referrals',
      '/v1/admin/programs/{id}/versions',
      '/v1/admin/referrals',
      '/v1/admin/referrals/{id}',
      '/v1/admin/referrals/{id}/approve',
      '/v1/admin/referrals/{id}/cancel',
      '/v1/admin/referrals/{id}/extend',
      '/v1/admin/referrals/{id}/reject',
      '/v1/admin/review-queue',
      '/v1/customers/{id}/points',
      '/v1/customers/{id}/points/redemptions',
      '/v1/customers/{id}/points/redemptions/{redemptionId}/reversal',
      '/v1/customers/{id}/referral-code',
      '/v1/customers/{id}/referrals',
      '/v1/customers/{id}/vouchers',
      '/v1/events/orders',
      '/v1/events/signups',
      '/v1/referrals',
      '/v1/referrals/{id}',
      '/v1/vouchers/{code}/redemptions',
    ]);
    expect(Object.keys(body.paths['/v1/events/signups'].post.responses).sort()).toEqual([
      '200',
      '201',
      '400',
      '401',
      '404',
      '409',
      '413',
      '415',
      '422',
      '500',
      '503',
    ]);
    const docs = await api.get('/docs');
    expect(docs.contentType).toContain('text/html');
    expect(docs.body).toContain('/docs/assets/swagger-ui-dist/swagger-ui-bundle.js');
    expect(docs.body).not.toContain('cdn.');
    const bundle = await api.get('/docs/assets/swagger-ui-dist/swagger-ui-bundle.js');
    expect(bundle).toMatchObject({ status: 200, contentType: expect.stringContaining('javascript') });
  });
});
