import type { Client } from '@temporalio/client';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { POINT_VALIDITY_PATTERN } from '../../api/schemas';
import { createApp } from '../../api/app';
import { DURATION_OR_ZERO_PATTERN, DURATION_PATTERN, positiveIntegersUpTo } from '../../api/duration-pattern';
import { PROBLEM_CODES } from '../../api/problems';
import { Instant, INSTANT_PATTERN } from '../../api/schemas';
import { durationToMs, MAX_TERM_DURATION_MS } from '../../workflows/durations';
import { TASK_QUEUE } from '../../workflows/shared';
import { API_KEYS, KEYS } from '../support/http';

/**
 * The OpenAPI document is a contract generators build clients and requests from: every operation named, every
 * status it can answer declared, and request schemas that say exactly what the runtime accepts. No database or
 * Temporal is needed to read it, or to route a wrong method.
 */
const app = createApp({
  db: {} as never,
  temporal: {} as Client,
  clock: () => new Date(),
  apiKeys: API_KEYS,
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});
const readDocument = async () => (await app.request('/openapi.json')).json() as Promise<any>;
const operations = (doc: any) =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods as object).map(([method, op]) => ({ path, method, op: op as any })),
  );

describe('the OpenAPI document', () => {
  it('when it is generated, then it matches the committed snapshot (a change to the contract is a reviewed diff)', async () => {
    await expect(`${JSON.stringify(await readDocument(), null, 2)}\n`).toMatchFileSnapshot(
      './__snapshots__/openapi.json',
    );
  });

  it('when any operation is read, then it has a unique operationId', async () => {
    const ids = operations(await readDocument()).map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('when an operation may carry a body (any method but GET), then it declares 413, and 415 if it takes one; every operation declares 401 and 500', async () => {
    for (const { path, method, op } of operations(await readDocument())) {
      const statuses = Object.keys(op.responses);
      expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['401', '500']));
      // The body limit applies to every /v1 request with a body, whether its route reads one or not.
      if (method !== 'get') expect(statuses, `${method} ${path}`).toContain('413');
      if (op.requestBody) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
      if (path.startsWith('/v1/admin/')) expect(statuses, `${method} ${path}`).toContain('403');
    }
  });

  it('when a route that takes no body is sent more than 64 KiB, then it answers the 413 it declares', async () => {
    const response = await app.request('/v1/admin/events/e-1/redelivery', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ padding: 'x'.repeat(70_000) }),
    });
    expect({ status: response.status, body: await response.json() }).toMatchObject({
      status: 413,
      body: { code: 'payload_too_large' },
    });
  });

  it('when an operation calls Temporal, then it declares 503', async () => {
    const doc = await readDocument();
    const temporal = [
      ['post', '/v1/referrals'],
      ['get', '/v1/referrals/{id}'],
      ['post', '/v1/events/signups'],
      ['post', '/v1/events/orders'],
      ['get', '/v1/admin/referrals/{id}'],
      ['post', '/v1/admin/referrals/{id}/cancel'],
      ['post', '/v1/admin/customers/{id}/points/adjustments'],
    ];
    for (const [method, path] of temporal)
      expect(Object.keys(doc.paths[path!][method!].responses), `${method} ${path}`).toContain('503');
  });

  it('when a response field may be null, then null is valid against its schema (no allOf of a $ref with a null type)', async () => {
    // zod-to-openapi renders .nullable() on a registered schema as allOf [$ref, {type: [object, null]}], which refuses
    // null: the $ref alone requires an object. Found by the fuzz run (an admin debit answers lot: null).
    const broken: string[] = [];
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${at}/${i}`));
      if (node === null || typeof node !== 'object') return;
      const allOf = (node as { allOf?: Array<Record<string, unknown>> }).allOf;
      if (
        allOf?.some((part) => '$ref' in part) &&
        allOf.some((part) => Array.isArray(part.type) && part.type.includes('null'))
      )
        broken.push(at);
      for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
    };
    walk(await readDocument(), '#');
    expect(broken).toEqual([]);
  });

  it('when a problem is described, then its code is an enum of every code the API answers with', async () => {
    const doc = await readDocument();
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual([...PROBLEM_CODES]);
  });

  it('when a signup answer is described, then it is one of two closed shapes, not a passthrough object', async () => {
    const doc = await readDocument();
    expect(doc.components.schemas.SignupResult.anyOf.map((s: { $ref: string }) => s.$ref).sort()).toEqual([
      '#/components/schemas/SignupNotReferred',
      '#/components/schemas/SignupRegistered',
    ]);
    expect(doc.components.schemas.SignupRegistered.properties.registeredAt).toMatchObject({
      type: ['string', 'null'],
      format: 'date-time',
    });
  });

  it('when instants are described, then responses say date-time and requests say the accepted range', async () => {
    const doc = await readDocument();
    expect(doc.components.schemas.Referral.properties.createdAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(doc.components.schemas.Referral.properties.endedAt).toMatchObject({
      type: ['string', 'null'],
      format: 'date-time',
    });
    expect(doc.components.schemas.OrderEvent.properties.occurredAt).toMatchObject({
      format: 'date-time',
      pattern: expect.any(String),
      description: expect.stringContaining('1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z'),
    });
  });

  it('when money and currencies are described, then the cap and the ISO 4217 list are in the schema', async () => {
    const doc = await readDocument();
    expect(doc.components.schemas.OrderEvent.properties.amount).toMatchObject({
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000_000_000,
    });
    expect(doc.components.schemas.OrderEvent.properties.currency.enum).toEqual(
      expect.arrayContaining(['INR', 'USD', 'EUR']),
    );
    expect(doc.components.schemas.OrderEvent.properties.currency.enum).not.toContain('XYZ');
  });
});

describe('the duration grammar published as a pattern', () => {
  const units = [
    '',
    'ms',
    's',
    'sec',
    'seconds',
    'm',
    'min',
    'minutes',
    'h',
    'hrs',
    'hour',
    'd',
    'day',
    'days',
    'w',
    'weeks',
    'y',
    'yrs',
    'years',
  ];
  const numbers = [
    '0',
    '1',
    '5',
    '0.5',
    '1.5',
    '9',
    '10',
    '99',
    '365',
    '520',
    '521',
    '522',
    '3649.9',
    '3650',
    '3650.0',
    '3650.01',
    '3651',
    '87600',
    '87601',
    '5256000',
    '315360000',
    '315360001',
    '315360000000',
    '315360000001',
    '300000',
  ];
  const samples = numbers.flatMap((n) => units.flatMap((u) => [`${n}${u}`, `${n} ${u}`]));

  const fractions = [
    '0.0000001',
    '0.000001',
    '0.000016',
    '0.000017',
    '0.0005',
    '0.0009',
    '0.001',
    '0.123456',
    '0.1234567',
    '1.000001',
    '1.0000001',
    `1.${'0'.repeat(100)}`,
    `0.${'0'.repeat(99)}1`,
  ];
  const fractionSamples = fractions.flatMap((n) => units.flatMap((u) => [`${n}${u}`, `${n} ${u}`]));

  it('when the pattern matches a duration, then the runtime accepts it too, at least 1 ms and within the maximum', () => {
    const disagreeing = [...samples, ...fractionSamples].filter((sample) => {
      const value = durationToMs(sample);
      return DURATION_PATTERN.test(sample) && (value === undefined || value < 1 || value > MAX_TERM_DURATION_MS);
    });
    const disagreeingWithZero = samples.filter(
      (sample) => DURATION_OR_ZERO_PATTERN.test(sample) && durationToMs(sample, { allowZero: true }) === undefined,
    );
    expect({ disagreeing, disagreeingWithZero }).toEqual({ disagreeing: [], disagreeingWithZero: [] });
  });

  it('when the runtime accepts a whole count of a unit, then the pattern matches it too', () => {
    const wholeCounts = samples.filter((sample) => /^[1-9][0-9]* ?[a-z]*$/.test(sample));
    expect(
      wholeCounts.filter((sample) => (durationToMs(sample) !== undefined) !== DURATION_PATTERN.test(sample)),
    ).toEqual([]);
  });

  it('when a fraction has up to 6 digits and lasts a millisecond, then the pattern matches it; longer fractions never', () => {
    const expected = {
      '0.5': false,
      '1.5': true,
      '0.0009 s': false,
      '0.001 s': true,
      '0.000016 m': false,
      '0.000017 m': true,
      '0.000001 h': true,
      '0.123456 days': true,
      '0.1234567 days': false,
      '1.000001 weeks': true,
      '1.0000001 weeks': false,
      '3649.999999 days': true,
      [`1.${'0'.repeat(100)} days`]: false,
      [`0.${'0'.repeat(99)}1 days`]: false,
    };
    expect(Object.fromEntries(Object.keys(expected).map((sample) => [sample, DURATION_PATTERN.test(sample)]))).toEqual(
      expected,
    );
    // What the pattern matches is short enough for `ms`, which refuses strings over 100 characters.
    expect(
      [...samples, ...fractionSamples].filter((sample) => sample.length > 100 && DURATION_OR_ZERO_PATTERN.test(sample)),
    ).toEqual([]);
  });

  it('when a sub-millisecond duration is written, then only the zero-allowing pattern takes it', () => {
    // (the zero-allowing pattern caps the fraction too: 7 digits are refused by both)
    const tiny = {
      '0.5': true,
      '0.5ms': true,
      '0.000001 ms': true,
      '0.0005s': true,
      '0.000001 m': true,
      '0.0000001': false,
    };
    expect(
      Object.entries(tiny).map(([sample, withZero]) => [
        sample,
        DURATION_PATTERN.test(sample),
        DURATION_OR_ZERO_PATTERN.test(sample) === withZero,
      ]),
    ).toEqual(Object.keys(tiny).map((sample) => [sample, false, true]));
  });

  it('when an adjustment validity is a duration, then its pattern follows the same grammar and bounds', () => {
    const samples = [
      '6 months',
      '120 months',
      '0.5',
      '1.5',
      '0.001 s',
      `1.${'0'.repeat(100)} days`,
      '0.1234567 days',
      '30 days',
    ];
    expect(samples.map((sample) => [sample, POINT_VALIDITY_PATTERN.test(sample)])).toEqual(
      samples.map((sample) => [sample, ['6 months', '120 months', '1.5', '0.001 s', '30 days'].includes(sample)]),
    );
  });

  it('when a validity is in years, then only whole years up to 10 match: a year of the duration grammar is 365.25 days', () => {
    const samples = ['1 year', '1year', '2y', '3 yrs', '10 years', '1 calendar year', '11 years', '0 years', '01 year'];
    const fractions = ['1.5 years', '0.5y', '2.0 years', '1.5 yr'];
    expect([...samples, ...fractions].map((sample) => [sample, POINT_VALIDITY_PATTERN.test(sample)])).toEqual(
      [...samples, ...fractions].map((sample) => [
        sample,
        ['1 year', '1year', '2y', '3 yrs', '10 years', '1 calendar year'].includes(sample),
      ]),
    );
  });

  it('when zero is written, then only the zero-allowing pattern takes it', () => {
    const zeros = ['0', '0s', '0 ms', '0.0 days'];
    expect(zeros.map((zero) => [DURATION_PATTERN.test(zero), DURATION_OR_ZERO_PATTERN.test(zero)])).toEqual(
      zeros.map(() => [false, true]),
    );
  });

  it('when integers up to a bound are spelled as a regex, then exactly 1..bound match', () => {
    for (const max of [1, 7, 9, 10, 11, 99, 100, 521, 3650]) {
      const re = new RegExp(`^${positiveIntegersUpTo(max)}$`);
      const wrong = Array.from({ length: max + 21 }, (_, n) => n).filter(
        (n) => re.test(String(n)) !== (n >= 1 && n <= max),
      );
      expect({ max, wrong, leadingZero: re.test(`0${max}`) }).toEqual({ max, wrong: [], leadingZero: false });
    }
  });
});

describe('the instant grammar published as a pattern', () => {
  const offsets = Array.from({ length: 2 * 24 * 4 - 1 }, (_, i) => (i - 24 * 4 + 1) * 15).map((minutes) => {
    const sign = minutes < 0 ? '-' : '+';
    const abs = Math.abs(minutes);
    return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  });
  const times = ['00:00:00', '00:59:59', '05:30:00', '12:00:00', '13:59:59.999', '23:59:59'];
  const days = ['1970-01-01', '1970-01-02', '2026-06-15', '9999-12-30', '9999-12-31'];
  const samples = days.flatMap((day) =>
    times.flatMap((time) => [...offsets, 'Z', '-00:00'].map((offset) => `${day}T${time}${offset}`)),
  );

  it('when the pattern matches an instant, then the runtime takes it, and it lies in the range in UTC', () => {
    const wrong = samples.filter((sample) => {
      const utc = Date.parse(sample);
      return (
        INSTANT_PATTERN.test(sample) &&
        (!Instant.safeParse(sample).success || utc < 0 || utc > Date.parse('9999-12-31T23:59:59.999Z'))
      );
    });
    expect(wrong).toEqual([]);
  });

  it('when the runtime takes an instant, then the pattern matches it (real calendar dates aside, which format: date-time says)', () => {
    const extra = [
      '2026-01-01t10:00:00z',
      '2026-01-01T10:00:00.123456789+05:30',
      '2016-12-31T23:59:60Z',
      '2026-01-01T10:00Z',
      '2026-01-01 10:00:00Z',
      '1969-12-31T23:59:59Z',
      '10000-01-01T00:00:00Z',
    ];
    const disagreeing = [...samples, ...extra].filter(
      (sample) => Instant.safeParse(sample).success !== INSTANT_PATTERN.test(sample),
    );
    expect(disagreeing).toEqual([]);
    expect(['2026-01-01t10:00:00z', '2016-12-31T23:59:60Z'].map((sample) => Instant.safeParse(sample).success)).toEqual(
      [true, false],
    );
  });

  it('when occurredAt is described, then its pattern is this one, with format date-time', async () => {
    const doc = await readDocument();
    expect(doc.components.schemas.OrderEvent.properties.occurredAt).toMatchObject({
      format: 'date-time',
      pattern: INSTANT_PATTERN.source,
    });
  });
});

describe('a wrong method on a known path', () => {
  it.each([
    ['PUT', '/v1/referrals', 'POST'],
    ['GET', '/v1/events/orders', 'POST'],
    ['DELETE', '/v1/admin/programs/p-1', 'GET, HEAD, PATCH'],
    ['PUT', '/v1/customers/anna/referral-code', 'GET, HEAD, POST'],
    ['POST', '/healthz', 'GET, HEAD'],
  ])('when %s %s is called, then 405 method_not_allowed with Allow: %s', async (method, path, allow) => {
    const key = path.startsWith('/v1/admin/') ? KEYS.admin : KEYS.commerce;
    const response = await app.request(path, { method, headers: { authorization: `Bearer ${key}` } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 405, code: 'method_not_allowed' });
  });

  it('when a route’s own handler finds nothing (a docs asset that is not there), then 404, not 405', async () => {
    for (const method of ['GET', 'HEAD']) {
      const response = await app.request('/docs/assets/swagger-ui-dist/nope.js', { method });
      expect({ method, status: response.status, allow: response.headers.get('allow') }).toEqual({
        method,
        status: 404,
        allow: null,
      });
    }
    expect((await app.request('/docs/assets/swagger-ui-dist/swagger-ui.css')).status).toBe(200);
  });

  it('when an unknown path is called, then 404 not_found still', async () => {
    const response = await app.request('/v1/nowhere', { headers: { authorization: `Bearer ${KEYS.commerce}` } });
    expect(response.status).toBe(404);
    expect(response.headers.get('allow')).toBeNull();
  });
});
