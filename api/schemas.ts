import { z } from '@hono/zod-openapi';
import { durationToMs, MAX_TERM_DURATION } from '../workflows/durations';
import { canonicalIp } from '../intake/fraud-flags';
import { ORDER_STATUSES, REFERRAL_STATUSES } from '../workflows/shared';
import { CURRENCY_CODES } from './currencies';
import { DURATION_OR_ZERO_PATTERN, DURATION_PATTERN, positiveIntegersUpTo } from './duration-pattern';
import { parsePointValidity } from '../workflows/point-validity';
import { PROBLEM_CODES } from './problems';

/**
 * The request and response vocabulary shared by every route. Each schema says in the OpenAPI document exactly what
 * the runtime accepts (patterns, enums, bounds), so a client or fuzzer generating from the document is never
 * refused as invalid, and what the runtime refuses is refused before anything is written or started.
 */

/** How far in the future a business timestamp may lie (clock skew between systems). */
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

/** No string may carry U+0000: PostgreSQL stores it in neither text nor jsonb. */
// oxlint-disable-next-line no-control-regex -- U+0000 is exactly the character this pattern is about.
export const NO_NUL_PATTERN = /^[^\u0000]*$/;

/** Half a UTF-16 surrogate pair (`"\ud800"` in JSON): not a character at all, and jsonb refuses it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const SURROGATE_PAIRS = /[\ud800-\udbff][\udc00-\udfff]/g;

/** Why PostgreSQL could not store this string, or undefined when it can. */
export const unstorableText = (value: string): string | undefined =>
  value.includes('\u0000')
    ? 'must not contain U+0000'
    : LONE_SURROGATE.test(value)
      ? 'must not contain a lone UTF-16 surrogate'
      : undefined;

/**
 * Free text of `min` to `max` characters (counted as code points, as JSON Schema counts them) that PostgreSQL can
 * store: no U+0000 (published as the pattern) and no lone surrogate (which a UTF-8 client cannot send anyway).
 */
export const Text = (min: number, max: number) =>
  z
    .string()
    .regex(NO_NUL_PATTERN, 'must not contain U+0000')
    .refine((value) => !LONE_SURROGATE.test(value), { message: 'must not contain a lone UTF-16 surrogate' })
    .refine(
      (value) => {
        // A surrogate pair is one character.
        const length = value.length - (value.match(SURROGATE_PAIRS)?.length ?? 0);
        return length >= min && length <= max;
      },
      { message: `must be ${min} to ${max} characters long` },
    )
    .openapi({ minLength: min, maxLength: max });

export const Id = Text(1, 200);

export const Currency = z
  .enum(CURRENCY_CODES, { error: 'unknown ISO 4217 currency code' })
  .openapi({ example: 'INR', description: 'ISO 4217 currency code' });

/**
 * The largest amount (minor units) an order or a spend threshold may carry: 10^12, ten billion in a two-decimal
 * currency. Sums of many such amounts still stay far inside the exact range of a JSON number.
 */
export const MAX_MINOR_UNITS = 1_000_000_000_000;

export const MinorUnits = z
  .number()
  .int()
  .nonnegative()
  .max(MAX_MINOR_UNITS)
  .openapi({
    example: 60000,
    description: `integer amount in minor units of the currency (paise, cents), at most ${MAX_MINOR_UNITS}`,
  });

const DURATION_GRAMMAR =
  'a number (at most 6 digits after the point) and a lowercase unit (ms, s, m, h, d, w, y and their long forms: "30 days", "12 hours", "5s"; no unit is milliseconds)';

/**
 * A duration the runtime reads as at least a millisecond: `ms` reads "0.5" as half a millisecond, which is longer
 * than zero, but a timer or a deadline of it is one of none.
 */
export const lastsAMillisecond = (value: string): boolean => (durationToMs(value) ?? 0) >= 1;

export const Duration = z
  .string()
  .regex(
    DURATION_PATTERN,
    `not a duration such as "30 days", "12 hours" or "5s", of at least 1 ms and at most ${MAX_TERM_DURATION}`,
  )
  // The pattern is the contract; the runtime's own reading is checked too, so the two can never disagree silently.
  .refine(lastsAMillisecond, { message: `not a duration of at least 1 ms and at most ${MAX_TERM_DURATION}` })
  .openapi({ example: '30 days', description: `${DURATION_GRAMMAR}; at least 1 ms and at most ${MAX_TERM_DURATION}` });

/** A duration that may be zero (`0`, `0s`): a grace period may be none. */
export const DurationOrZero = z
  .string()
  .regex(DURATION_OR_ZERO_PATTERN, `not a duration such as "5 minutes" or "0s", at most ${MAX_TERM_DURATION}`)
  .refine((value) => durationToMs(value, { allowZero: true }) !== undefined, {
    message: `not a duration of at most ${MAX_TERM_DURATION}`,
  })
  .openapi({ example: '5 minutes', description: `${DURATION_GRAMMAR}; zero allowed, at most ${MAX_TERM_DURATION}` });

/** The instants the API takes: what JavaScript and PostgreSQL both store and print the same way. */
export const EARLIEST_INSTANT = '1970-01-01T00:00:00Z';
export const LATEST_INSTANT = '9999-12-31T23:59:59Z';
const EARLIEST_INSTANT_MS = Date.parse(EARLIEST_INSTANT);
const LATEST_INSTANT_MS = Date.parse(LATEST_INSTANT) + 999;

/**
 * RFC 3339 `date-time` as the API takes it, published as the pattern so the document says exactly what is accepted:
 * `T` and `Z` in either case (RFC 3339 §5.6 allows both), seconds 00 to 59 (a leap second's `:60` is refused: neither
 * JavaScript nor PostgreSQL can hold it), any fraction, `Z` or a `±hh:mm` offset; years 1970 to 9999. The range is
 * of UTC instants, and a pattern cannot subtract an offset, so on the first day (1970-01-01) an offset ahead of UTC
 * is refused, and on the last (9999-12-31) one behind it, whatever the time: `+00:00` and `-00:00` are UTC.
 */
export const INSTANT_PATTERN = new RegExp(
  [
    '^',
    '(?!1970-01-01[Tt][^+]*\\+(?!00:00))',
    '(?!9999-12-31[Tt][^-]*-(?!00:00))',
    '(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])',
    '[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?',
    '(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])',
    '$',
  ].join(''),
);

/** The calendar date of an RFC 3339 instant exists (no 31 February): `Date.parse` would silently roll it over. */
const isRealDate = (value: string): boolean => {
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
};

/** In range as a UTC instant, whatever offset it was written with (the pattern already refuses those that are not). */
const inRange = (value: string): boolean => {
  const at = Date.parse(value);
  return at >= EARLIEST_INSTANT_MS && at <= LATEST_INSTANT_MS;
};

export const INSTANT_RULE = `RFC 3339 with Z or an offset, from ${EARLIEST_INSTANT} to ${LATEST_INSTANT} (an offset ahead of UTC is refused on 1970-01-01, one behind it on 9999-12-31; no leap second)`;

export const Instant = z
  .string()
  .regex(INSTANT_PATTERN, `not an RFC 3339 instant with Z or an offset from ${EARLIEST_INSTANT} to ${LATEST_INSTANT}`)
  .refine(isRealDate, { message: 'not a calendar date' })
  .refine(inRange, { message: `must lie between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}` })
  .openapi({
    format: 'date-time',
    example: '2026-11-23T10:00:00Z',
    description: INSTANT_RULE,
  });

/** An instant the API writes: always UTC, as `Date.toISOString` prints it. */
export const InstantOut = z.string().openapi({ format: 'date-time', example: '2026-11-23T10:00:00.000Z' });

/**
 * The e-mail rule zod applies, published as the pattern (an `email` format would promise every RFC 5322 address,
 * and generators would send ones this rule refuses).
 */
const EMAIL_PATTERN =
  /^(?:[A-Za-z0-9_'+-]+\.)*[A-Za-z0-9_'+-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$/;
export const Email = z
  .string()
  .max(320)
  .regex(EMAIL_PATTERN, 'not an e-mail address')
  .openapi({ example: 'ben@example.com' });

/** A referral id: any UUID PostgreSQL's uuid type takes (hex, 8-4-4-4-12), whatever its version bits. */
export const ReferralId = z.guid().openapi({ format: 'uuid', example: '0b8e4c1e-6f1a-4c5e-9a4e-2f7d1c9b3a10' });

export const ReferralCodeString = z
  .string()
  .regex(/^[A-Z0-9]{6,10}$/, 'a referral code is 6 to 10 characters A-Z, 0-9')
  .openapi({ example: 'ANNA2026' });

export const ReferralStatusSchema = z.enum(REFERRAL_STATUSES);
export const OrderStatusSchema = z.enum(ORDER_STATUSES);

export const Context = z
  .object({
    // one spelling per address (see canonicalIp), so a fraud flag cannot be dodged by writing it another way
    ip: Text(0, 100).overwrite(canonicalIp).optional(),
    deviceId: Text(0, 200)
      .overwrite((value) => value.trim())
      .optional(),
  })
  .strict()
  .openapi({ description: 'where the request came from, for fraud checks' });

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'urn:referrals:problem:validation_failed' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(PROBLEM_CODES).openapi({ example: 'validation_failed' }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    instance: z.string().optional(),
  })
  .openapi('Problem');

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'invalid_json, or validation_failed with the fields at fault',
  401: 'unauthorized: no or unknown API key',
  403: 'forbidden: this key may not use this route',
  404: 'not_found',
  409: 'a conflict with what is already there (see `code`)',
  413: 'payload_too_large: bodies are limited to 64 KiB, on every route that may carry one (a route that takes none ignores a smaller one)',
  415: 'unsupported_media_type: the body must be application/json',
  422: 'refused by a business rule (see `code`)',
  503: 'temporarily_unavailable: Temporal did not answer in time, or PostgreSQL could not be reached; retry',
};

/** Declares problem responses in a route, so the OpenAPI document lists every error a client can get. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: PROBLEM_DESCRIPTIONS[status] ?? 'problem+json (RFC 9457)',
        content: { 'application/problem+json': { schema: ProblemSchema } },
      },
    ]),
  );

export const notInFuture = (instant: string, now: Date): boolean =>
  Date.parse(instant) <= now.getTime() + FUTURE_TOLERANCE_MS;

/** A required JSON request body validated by `schema`. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  content: { 'application/json': { schema } },
  required: true,
});

const YEAR_UNIT = '(?:years?|yrs?|y)';

/**
 * Calendar months (1 to 120) or whole years (1 to 10, 12 calendar months each), as workflows/point-validity.ts reads
 * them, or a duration in the API's grammar without a year unit: the duration grammar's year is 365.25 days, and a
 * fraction of a year is no whole number of calendar months.
 */
export const POINT_VALIDITY_PATTERN = new RegExp(
  [
    '^(?:',
    `(?:${positiveIntegersUpTo(120)}) ?(?:calendar )?months?`,
    `|(?:${positiveIntegersUpTo(10)}) ?(?:(?:calendar )?years?|yrs?|y)`,
    `|(?![0-9.]+ ?${YEAR_UNIT}$)(?:${DURATION_PATTERN.source.replace(/^\^/, '').replace(/\$$/, '')})`,
    ')$',
  ].join(''),
);

/** How long points stay valid: calendar months, whole calendar years or a duration of at least 1 ms. */
export const PointValidity = z
  .string()
  .regex(
    POINT_VALIDITY_PATTERN,
    'not a validity such as "6 months" (1 to 120), "1 year" (whole years, 1 to 10) or a duration such as "30 days"',
  )
  // The pattern is the contract; the runtime's own reading is checked too, so the two can never disagree silently.
  .refine(
    (value) => {
      const validity = parsePointValidity(value);
      return validity !== undefined && ('months' in validity || validity.ms >= 1);
    },
    { message: 'not a validity such as "6 months", "1 year" or "30 days" (a duration of at least 1 ms)' },
  )
  .openapi({ example: '6 months' });

/**
 * An IANA time zone name, as the published pattern spells one; whether this runtime knows it is checked by the route
 * (422 when it does not).
 */
export const TimeZoneName = z
  .string()
  .regex(/^(?:UTC|[A-Za-z]+(?:\/[A-Za-z0-9_+-]+){1,2})$/, 'an IANA time zone such as "Asia/Kolkata" or "UTC"')
  .max(64)
  .openapi({ example: 'Asia/Kolkata' });

/** A list's paging: page size and the cursor the previous page gave out (`list` names the list in its description). */
export const PageQuery = (list: string) => ({
  // Digits only: z.coerce would also take 0x10, 1e1 and " 5 ", which the published integer does not allow.
  limit: z
    .string()
    .regex(/^(?:[1-9]|[1-9][0-9]|1[0-9][0-9]|200)$/, 'must be an integer from 1 to 200, in digits')
    .transform(Number)
    .optional()
    .transform((value) => value ?? 50)
    .openapi({ type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'page size, 1 to 200' }),
  // A text the document allows that this list never gave out is refused by the intake, as a rule: 422, not 400.
  cursor: Text(1, 500)
    .optional()
    .openapi({
      description: `nextCursor from the previous page of this list, as given; one it did not give out is 422 validation_failed (${list})`,
    }),
});
