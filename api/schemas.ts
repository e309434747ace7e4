import { z } from '@hono/zod-openapi';
import { durationToMs } from '../workflows/durations';
import { ORDER_STATUSES, REFERRAL_STATUSES } from '../workflows/shared';

/** ISO 4217 codes this runtime knows; "unknown currency" is a validation error, not a silent pass. */
const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** How far in the future a business timestamp may lie (clock skew between systems). */
export const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;

export const Currency = z
  .string()
  .refine((value) => CURRENCIES.has(value), { message: 'unknown ISO 4217 currency code' })
  .openapi({ example: 'INR', description: 'ISO 4217 currency code' });

export const MinorUnits = z
  .number()
  .int()
  .nonnegative()
  .max(Number.MAX_SAFE_INTEGER)
  .openapi({ example: 60000, description: 'integer amount in minor units of the currency (paise, cents)' });

export const Duration = z
  .string()
  .refine((value) => durationToMs(value) !== undefined, { message: 'not a duration such as "30 days", "12 hours" or "5s"' })
  .openapi({ example: '30 days' });

export const Instant = z.iso.datetime({ offset: true }).openapi({ example: '2026-11-23T10:00:00Z' });

export const Id = z.string().min(1).max(200);

export const ReferralCodeString = z
  .string()
  .regex(/^[A-Z0-9]{6,10}$/, 'a referral code is 6 to 10 characters A-Z, 0-9')
  .openapi({ example: 'ANNA2026' });

export const ReferralStatusSchema = z.enum(REFERRAL_STATUSES);
export const OrderStatusSchema = z.enum(ORDER_STATUSES);

export const Context = z
  .object({ ip: z.string().max(100).optional(), deviceId: z.string().max(200).optional() })
  .strict()
  .openapi({ description: 'where the request came from, for fraud checks' });

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'validation_failed' }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    instance: z.string().optional(),
  })
  .openapi('Problem');

/** Declares problem responses in a route, so the OpenAPI document lists every error a client can get. */
export const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: 'problem+json (RFC 9457)', content: { 'application/problem+json': { schema: ProblemSchema } } },
    ]),
  );

export const notInFuture = (instant: string, now: Date): boolean =>
  Date.parse(instant) <= now.getTime() + FUTURE_TOLERANCE_MS;

/** A required JSON request body validated by `schema`. */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
