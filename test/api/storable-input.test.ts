import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { MAX_VALUES, unstorableStrings } from '../../api/hono';
import type { DB } from '../../db/connection';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { appOver, untouchableTemporal } from '../support/app';

/**
 * Input PostgreSQL cannot store, or no workflow could finish with, is refused at the edge: 400 validation_failed
 * naming the field, never a 500, with nothing written and Temporal never called.
 */
let db: DB;
let drop: () => Promise<void>;
let temporalCalls = 0;
const untouchable = untouchableTemporal(() => (temporalCalls += 1));

let api: ReturnType<typeof httpClient>;
let app: ReturnType<typeof createApp>;
let programId: string;
let annaCode: string;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ app, api } = appOver(db, { temporal: untouchable }));
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Storable', currency: 'INR' })).body.id;
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

type Sent = Promise<{ status: number; contentType: string | null; body: any }>;

/** 400 validation_failed, problem+json, naming exactly `path` among the fields at fault. */
async function expectRefused(result: Sent, path: string) {
  const { status, contentType, body } = await result;
  expect({ status, code: body?.code }).toEqual({ status: 400, code: 'validation_failed' });
  expect(contentType).toBe('application/problem+json');
  expect(body.errors.map((e: { path: string }) => e.path)).toContain(path);
  return body;
}

const count = async (
  table:
    'inbox_events' | 'programs' | 'program_versions' | 'referrals' | 'customers' | 'referral_codes' | 'claim_requests',
) =>
  Number(
    (
      await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
const counts = async () => ({
  inbox: await count('inbox_events'),
  programs: await count('programs'),
  versions: await count('program_versions'),
  referrals: await count('referrals'),
  customers: await count('customers'),
  codes: await count('referral_codes'),
  claims: await count('claim_requests'),
});

/** A JSON body sent as written: `\ud800` stays a lone surrogate escape, which JSON.stringify would also produce. */
async function raw(method: string, path: string, key: string, text: string) {
  const response = await app.request(path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: text,
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: (await response.json()) as any,
  };
}

describe('refused at the edge, nothing written', () => {
  let before: Awaited<ReturnType<typeof counts>>;
  beforeAll(async () => {
    before = await counts();
  });

  describe('U+0000 anywhere', () => {
    it('when an order field carries U+0000, then 400 naming it', () =>
      expectRefused(api.post('/v1/events/orders', KEYS.commerce, order({ orderId: 'A\u00001' })), 'orderId'));

    it('when a nested signup field carries U+0000, then 400 naming the nested path', () =>
      expectRefused(
        api.post('/v1/events/signups', KEYS.commerce, {
          eventId: 's-1',
          customerId: 'ben',
          code: annaCode,
          context: { deviceId: 'd\u0000' },
        }),
        'context.deviceId',
      ));

    it('when a claim’s invitee phone carries U+0000, then 400 naming invitee.phone', () =>
      expectRefused(
        api.post('/v1/referrals', KEYS.commerce, { code: annaCode, invitee: { phone: '+91\u000098' } }),
        'invitee.phone',
      ));

    it('when a programme name carries U+0000, then 400 naming name', () =>
      expectRefused(api.post('/v1/admin/programs', KEYS.admin, { name: 'Promo\u0000', currency: 'INR' }), 'name'));

    it('when a path parameter is %00, then 400 naming it, on reads and writes', async () => {
      await expectRefused(api.post('/v1/customers/%00/referral-code', KEYS.commerce, { programId }), 'id');
      await expectRefused(api.get(`/v1/customers/%00/referral-code?programId=${programId}`, KEYS.commerce), 'id');
      await expectRefused(api.post('/v1/admin/events/a%00b/redelivery', KEYS.admin), 'eventId');
    });

    it('when a query parameter is %00, then 400 naming it', () =>
      expectRefused(api.get('/v1/customers/anna/referral-code?programId=%00', KEYS.commerce), 'programId'));

    it('when the Idempotency-Key of a claim is fine but the channel carries U+0000, then 400 naming channel', () =>
      expectRefused(
        api.post('/v1/referrals', KEYS.commerce, { code: annaCode, channel: '\u0000' }, { 'idempotency-key': 'k-1' }),
        'channel',
      ));
  });

  describe('lone UTF-16 surrogates', () => {
    it('when a JSON string holds a lone high surrogate, then 400 naming the field', () =>
      expectRefused(raw('POST', '/v1/admin/programs', KEYS.admin, '{"name":"caf\\ud800","currency":"INR"}'), 'name'));

    it('when a nested JSON string holds a lone low surrogate, then 400 naming the nested path', () =>
      expectRefused(
        raw(
          'POST',
          '/v1/events/signups',
          KEYS.commerce,
          `{"eventId":"s-2","customerId":"ben","code":"${annaCode}","context":{"ip":"\\udc00"}}`,
        ),
        'context.ip',
      ));

    it('when a property name holds a lone surrogate, then 400 naming it', () =>
      expectRefused(
        raw('POST', '/v1/events/orders', KEYS.commerce, JSON.stringify(order()).replace('{', '{"\\ud83d":1,')),
        '\ud83d',
      ));

    it('when a whole surrogate pair is sent, then it is a character like any other', async () => {
      const created = await raw(
        'POST',
        '/v1/admin/programs',
        KEYS.admin,
        '{"name":"Launch \\ud83d\\ude80","currency":"INR"}',
      );
      expect(created.status).toBe(201);
      expect(created.body.name).toBe('Launch 🚀');
      await db.deleteFrom('program_versions').where('program_id', '=', created.body.id).execute();
      await db.deleteFrom('programs').where('id', '=', created.body.id).execute();
    });
  });

  describe('bodies nested past any request schema', () => {
    const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

    it('when an order body is 5000 nested arrays (10 KB), then 400 too deeply nested, not a 500', async () => {
      const body = await expectRefused(raw('POST', '/v1/events/orders', KEYS.commerce, arrays(5000)), '(body)');
      expect(body.errors).toContainEqual({ path: '(body)', message: expect.stringContaining('too deeply nested') });
    });

    it('when a claim’s context is 5000 nested arrays or objects, then 400 too deeply nested', async () => {
      for (const context of [arrays(5000), `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`]) {
        const body = await expectRefused(
          raw('POST', '/v1/referrals', KEYS.commerce, `{"code":"${annaCode}","context":${context}}`),
          '(body)',
        );
        expect(body.errors).toContainEqual({ path: '(body)', message: expect.stringContaining('too deeply nested') });
      }
    });

    it('when a nested field is bad a few levels down, then the path still names it', () =>
      expectRefused(
        raw('POST', '/v1/referrals', KEYS.commerce, `{"code":"${annaCode}","context":{"x":[{"\\ud800":"a"}]}}`),
        'context.x.0.\ud800',
      ));

    it('when a value holds more values than the walk’s budget, then it is refused without being walked through', () => {
      expect(unstorableStrings(Array.from({ length: MAX_VALUES + 1 }, () => '\u0000'))).toEqual([
        { path: '(body)', message: expect.stringContaining('too many values') },
      ]);
      expect(unstorableStrings({ a: [{ b: 'ok' }, '\u0000'] })).toEqual([
        { path: 'a.1', message: 'must not contain U+0000' },
      ]);
    });
  });

  describe('instants outside 1970-01-01T00:00:00Z … 9999-12-31T23:59:59Z', () => {
    it.each([
      ['year 0000', '0000-01-01T00:00:00Z'],
      ['before 1970', '1969-12-31T23:59:59Z'],
      ['a day that does not exist', '2026-02-30T10:00:00Z'],
      ['past 9999 once in UTC', '9999-12-31T23:00:00-05:00'],
      ['before 1970 once in UTC', '1970-01-01T00:00:00+14:00'],
      ['on 1970-01-01 with an offset ahead of UTC', '1970-01-01T23:00:00+01:00'],
      ['a leap second', '2016-12-31T23:59:60Z'],
      ['without seconds', '2026-01-01T10:00Z'],
    ])('when an order’s occurredAt is %s, then 400 naming occurredAt', (_, occurredAt) =>
      expectRefused(api.post('/v1/events/orders', KEYS.commerce, order({ occurredAt })), 'occurredAt'),
    );

    it('when a signup’s occurredAt is year 0000, then 400 naming occurredAt', () =>
      expectRefused(
        api.post('/v1/events/signups', KEYS.commerce, {
          eventId: 's-3',
          customerId: 'ben',
          code: annaCode,
          occurredAt: '0000-06-01T00:00:00Z',
        }),
        'occurredAt',
      ));
  });

  describe('durations past 3650 days, or zero where zero is not a term', () => {
    it.each([
      ['referralExpiry', '300000 years'],
      ['qualificationWindow', '3651 days'],
      ['referralExpiry', '0s'],
      ['lateEventGrace', '300000 years'],
      ['lateEventGrace', '87601 hours'],
      ['referralExpiry', '30 fortnights'],
      ['qualificationWindow', '0.5'],
      ['qualificationWindow', '0.0000001 days'],
      ['referralExpiry', `1.${'0'.repeat(100)} days`],
    ])('when %s is %j, then 400 naming terms.%s', (term, value) =>
      expectRefused(
        api.post('/v1/admin/programs', KEYS.admin, { name: 'x', currency: 'INR', terms: { [term]: value } }),
        `terms.${term}`,
      ),
    );

    it('when an adjustment’s validity is under a millisecond or has a 7-digit fraction, then 400 naming validity', async () => {
      for (const validity of ['0.5', '0.0005 s', '1.0000001 days']) {
        await expectRefused(
          api.post('/v1/admin/customers/anna/points/adjustments', KEYS.admin, {
            adjustmentId: 'a-1',
            points: 5,
            reason: 'r',
            validity,
          }),
          'validity',
        );
      }
    });

    it('when a new version has a too long window, then 400 and the programme keeps its version', async () => {
      await expectRefused(
        api.post(`/v1/admin/programs/${programId}/versions`, KEYS.admin, {
          terms: { qualificationWindow: '522 weeks' },
        }),
        'terms.qualificationWindow',
      );
      expect((await api.get(`/v1/admin/programs/${programId}`, KEYS.admin)).body.version).toBe(1);
    });
  });

  describe('amounts past 1,000,000,000,000 minor units', () => {
    it('when an order amount is one past the cap, then 400 naming amount', () =>
      expectRefused(api.post('/v1/events/orders', KEYS.commerce, order({ amount: 1_000_000_000_001 })), 'amount'));

    it('when an order amount is past what a double holds exactly, then 400 naming amount', () =>
      expectRefused(
        raw(
          'POST',
          '/v1/events/orders',
          KEYS.commerce,
          JSON.stringify(order()).replace('"amount":60000', '"amount":9007199254740993'),
        ),
        'amount',
      ));

    it('when minSpend is one past the cap, then 400 naming terms.minSpend', () =>
      expectRefused(
        api.post('/v1/admin/programs', KEYS.admin, {
          name: 'x',
          currency: 'INR',
          terms: { minSpend: 1_000_000_000_001 },
        }),
        'terms.minSpend',
      ));
  });

  it('after all of the above, then nothing was written and Temporal was never called', async () => {
    expect(await counts()).toEqual(before);
    expect(temporalCalls).toBe(0);
  });
});

describe('what is accepted at the limits', () => {
  it('when lateEventGrace is "0" or "0s", then the programme is created and shows it', async () => {
    for (const grace of ['0', '0s']) {
      const created = await api.post('/v1/admin/programs', KEYS.admin, {
        name: 'No grace',
        currency: 'INR',
        terms: { lateEventGrace: grace },
      });
      expect(created.status).toBe(201);
      expect(created.body.terms.lateEventGrace).toBe(grace);
    }
  });

  it('when terms leave lateEventGrace out, then the programme shows the default of 5 minutes', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Default grace',
      currency: 'INR',
      terms: { rewardHold: '1 day' },
    });
    expect(created.body.terms).toMatchObject({ rewardHold: '1 day', lateEventGrace: '5 minutes' });
  });

  it('when a version was stored before lateEventGrace existed, then it shows the default it runs with', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Old', currency: 'INR' });
    await db
      .updateTable('program_versions')
      .set({
        terms: JSON.stringify({
          referralExpiry: '90 days',
          qualificationWindow: '30 days',
          minOrders: 1,
          minSpend: 50_000,
          rewardHold: '7 days',
        }) as never,
      })
      .where('program_id', '=', created.body.id)
      .execute();
    expect((await api.get(`/v1/admin/programs/${created.body.id}`, KEYS.admin)).body.terms.lateEventGrace).toBe(
      '5 minutes',
    );
  });

  it('when durations are exactly 3650 days in any unit, then they are accepted', async () => {
    const terms = {
      referralExpiry: '3650 days',
      qualificationWindow: '87600h',
      rewardHold: '521 weeks',
      lateEventGrace: '315360000000',
    };
    const created = await api.post('/v1/admin/programs', KEYS.admin, { name: 'Longest', currency: 'INR', terms });
    expect(created.status).toBe(201);
    expect(created.body.terms).toMatchObject(terms);
  });

  it('when minSpend is exactly the cap, then it is accepted', async () => {
    const created = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Big spender',
      currency: 'INR',
      terms: { minSpend: 1_000_000_000_000 },
    });
    expect(created.status).toBe(201);
  });

  it('when instants use a lowercase t or z, or a UTC offset at the ends of the range, then they are accepted', async () => {
    for (const [n, occurredAt] of [
      '2026-01-01t10:00:00z',
      '2026-01-01T10:00:00.5z',
      '1970-01-01T00:00:00-05:00',
      '1970-01-01T00:00:00+00:00',
    ].entries()) {
      const kept = await api.post(
        '/v1/events/orders',
        KEYS.commerce,
        order({ eventId: `o-instant-${n}`, customerId: 'nobody-yet', occurredAt }),
      );
      expect({ occurredAt, status: kept.status }).toEqual({ occurredAt, status: 202 });
    }
    expect(temporalCalls).toBe(0);
  });

  it('when an order is exactly the cap at the earliest instant, then it is kept (no referral yet, so Temporal is not called)', async () => {
    const kept = await api.post(
      '/v1/events/orders',
      KEYS.commerce,
      order({
        eventId: 'o-cap',
        customerId: 'nobody-yet',
        amount: 1_000_000_000_000,
        occurredAt: '1970-01-01T00:00:00Z',
      }),
    );
    expect(kept).toMatchObject({ status: 202, body: { eventId: 'o-cap', duplicate: false } });
    expect(temporalCalls).toBe(0);
  });
});
