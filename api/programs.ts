import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import {
  createProgram,
  findProgram,
  publishProgramVersion,
  setProgramActive,
  type ProgramWithVersions,
} from '../db/programs';
import { isTimeZone } from '../workflows/point-validity';
import { FRAUD_FLAGS } from '../intake/fraud-flags';
import {
  creditedPoints,
  DEFAULT_REFERRAL_TERMS,
  DEFAULT_TIERS,
  reviewTerms,
  rewardTerms,
  tierTerms,
  type ReferralTerms,
} from '../workflows/shared';
import { MAX_POINTS } from './points';
import { createRouter } from './hono';
import { Problem } from './problems';
import {
  Currency,
  Duration,
  DurationOrZero,
  Id,
  InstantOut,
  MinorUnits,
  PointValidity,
  problems,
  jsonBody,
  Text,
  TimeZoneName,
} from './schemas';

/** Beyond any referrer's real pace; HIGH_VELOCITY's count reads at most this many of their referrals, plus one. */
const MAX_VELOCITY_LIMIT = 10_000;

const MAX_TIERS = 10;
const MAX_TIER_THRESHOLD = 1_000_000;
const MAX_TIER_MULTIPLIER = 100;

const TierInput = z
  .object({
    name: z
      .string()
      .regex(/^[A-Z0-9_]{1,40}$/, 'must be 1 to 40 characters A-Z, 0-9 and _')
      .openapi({ example: 'PRO' }),
    minCompleted: z
      .number()
      .int()
      .min(0)
      .max(MAX_TIER_THRESHOLD)
      .openapi({ example: 5, description: 'completed referrals from which the tier holds' }),
    // Hundredths, as a rate is written (×1.25): whole points times it is a whole number of hundredths.
    multiplier: z
      .number()
      .positive()
      .max(MAX_TIER_MULTIPLIER)
      .multipleOf(0.01)
      // zod's multipleOf does not reach the document by itself
      .openapi({
        multipleOf: 0.01,
        example: 1.25,
        description: `the referrer's points are multiplied by it: above 0, at most ${MAX_TIER_MULTIPLIER}, in hundredths`,
      }),
  })
  .strict()
  .openapi('TierInput');

const TiersInput = z
  .array(TierInput)
  .min(1)
  .max(MAX_TIERS)
  // A referrer with no completed referral has a tier too: the ladder starts at 0.
  .refine((tiers) => tiers.some((tier) => tier.minCompleted === 0), {
    message: 'one tier must start at minCompleted 0',
  })
  .openapi({
    // Published, so a request the document allows is never refused for it; uniqueness it cannot say (see below).
    // JSON Schema 2020-12 (OpenAPI 3.1) has `contains`; the metadata's type does not list it.
    ...({ contains: { type: 'object', properties: { minCompleted: { const: 0 } }, required: ['minCompleted'] } } as {}),
    description: `1 to ${MAX_TIERS} tiers by completed referrals, one of them from 0; names and minCompleted each unique (422 validation_failed otherwise). Lowest first once stored. Default: ${DEFAULT_TIERS.map((t) => `${t.name} ${t.minCompleted} ×${t.multiplier}`).join(', ')}`,
  });

const TermsInput = z
  .object({
    referralExpiry: Duration.optional(),
    qualificationWindow: Duration.optional(),
    minOrders: z.number().int().min(1).max(1000).optional(),
    minSpend: MinorUnits.optional(),
    rewardHold: DurationOrZero.optional().openapi({
      description: 'between qualified and completed (default 7 days); 0 completes at qualification',
    }),
    lateEventGrace: DurationOrZero.optional().openapi({
      description: 'how long after a deadline facts that happened before it still count (default 5 minutes); 0 allowed',
    }),
    refereeVoucher: z
      .object({ amount: MinorUnits.min(1).optional(), validFor: Duration.optional() })
      .strict()
      .optional()
      .openapi({ description: "the referee's voucher at registration (default 5000 minor units, valid 30 days)" }),
    // A reward of nothing is no reward: the ledger books whole points of at least one, so zero is refused here.
    referrerPoints: z
      .number()
      .int()
      .min(1)
      .max(MAX_POINTS)
      .optional()
      .openapi({ description: 'points credited to the referrer at completion (default 2000)' }),
    milestone: z
      .object({
        orders: z.number().int().min(1).max(1000).optional(),
        window: Duration.optional(),
        points: z.number().int().min(1).max(MAX_POINTS).optional(),
      })
      .strict()
      .optional()
      .openapi({
        description:
          "bonus points at the referee's Nth completed order within a window of registration (default 3, 90 days, 200)",
      }),
    pointValidity: PointValidity.optional().openapi({
      description: 'how long credited points stay valid (default 6 months)',
    }),
    timeZone: TimeZoneName.optional().openapi({ description: 'where calendar months are counted (default UTC)' }),
    review: z
      .object({
        // A threshold above the number of flags there are could never be reached: a review that cannot happen.
        flagsToReview: z.number().int().min(1).max(FRAUD_FLAGS.length).optional(),
        decisionWindow: Duration.optional(),
        velocityLimit: z.number().int().min(1).max(MAX_VELOCITY_LIMIT).optional(),
        velocityWindow: Duration.optional(),
      })
      .strict()
      .optional()
      .openapi({
        description:
          'fraud review: with flagsToReview flags a referral waits for an admin, who has decisionWindow to decide; HIGH_VELOCITY is more than velocityLimit referrals by one referrer within velocityWindow (default 2, 14 days, 10, 24 hours)',
      }),
    tiers: TiersInput.optional(),
  })
  .strict()
  .openapi('TermsInput', { description: 'any term left out takes the default' });

const Tier = z.object({ name: z.string(), minCompleted: z.number().int(), multiplier: z.number() }).openapi('Tier');

const Terms = z
  .object({
    referralExpiry: z.string().openapi({ example: '90 days' }),
    qualificationWindow: z.string().openapi({ example: '30 days' }),
    minOrders: z.number().int(),
    minSpend: z.number().int().openapi({ description: 'minor units' }),
    rewardHold: z.string().openapi({ example: '7 days' }),
    lateEventGrace: z
      .string()
      .openapi({ example: '5 minutes', description: 'the default for versions published before this term existed' }),
    refereeVoucher: z.object({ amount: z.number().int(), validFor: z.string() }),
    referrerPoints: z.number().int(),
    milestone: z.object({ orders: z.number().int(), window: z.string(), points: z.number().int() }),
    pointValidity: z.string(),
    timeZone: z.string(),
    review: z.object({
      flagsToReview: z.number().int(),
      decisionWindow: z.string(),
      velocityLimit: z.number().int(),
      velocityWindow: z.string(),
    }),
    tiers: z.array(Tier).openapi({
      description: 'lowest first; the default five for versions published before this term existed',
    }),
  })
  .openapi('Terms');

const ProgramSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    currency: z.string(),
    active: z.boolean(),
    version: z.number().int(),
    terms: Terms,
    versions: z.array(z.object({ version: z.number().int(), terms: Terms, createdAt: InstantOut })),
    createdAt: InstantOut,
    updatedAt: InstantOut,
  })
  .openapi('Program');

/** A time zone the published pattern accepts but this runtime does not know is a rule, not a shape: 422. */
function requireKnownTimeZone(terms: z.infer<typeof TermsInput> | undefined): void {
  if (terms?.timeZone !== undefined && !isTimeZone(terms.timeZone)) {
    throw new Problem(422, 'validation_failed', `unknown time zone ${terms.timeZone}`, [
      { path: 'terms.timeZone', message: 'not an IANA time zone this service knows' },
    ]);
  }
}

/**
 * Two tiers of one name, or two from the same count, leave the tier of a referrer undecided. The published schema
 * cannot say so, and a request it allows is refused by a rule, not as malformed: 422.
 */
function requireDistinctTiers(terms: z.infer<typeof TermsInput> | undefined): void {
  const tiers = terms?.tiers ?? [];
  const errors = tiers.flatMap((tier, i) => [
    ...(tiers.findIndex((other) => other.name === tier.name) < i
      ? [{ path: `terms.tiers.${i}.name`, message: `${tier.name} names another tier already` }]
      : []),
    ...(tiers.findIndex((other) => other.minCompleted === tier.minCompleted) < i
      ? [{ path: `terms.tiers.${i}.minCompleted`, message: `another tier starts at ${tier.minCompleted} already` }]
      : []),
  ]);
  if (errors.length > 0)
    throw new Problem(422, 'validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
}

/**
 * The referrer's points at the highest tier must stay a number of points the ledger can credit: a lot the ledger
 * refuses would leave its workflow retrying for ever. A rule across two terms, so 422.
 */
function requirePayableReferrerPoints(terms: z.infer<typeof TermsInput> | undefined): void {
  const filled = withDefaults(terms);
  const highest = Math.max(...tierTerms(filled).map((tier) => tier.multiplier));
  const points = rewardTerms(filled).referrerPoints;
  if (creditedPoints(points, highest) <= MAX_POINTS) return;
  const path = terms?.referrerPoints !== undefined ? 'terms.referrerPoints' : 'terms.tiers';
  const message = `${points} points at the highest tier (×${highest}) pass ${MAX_POINTS}, the most one credit may pay`;
  throw new Problem(422, 'validation_failed', `${path}: ${message}`, [{ path, message }]);
}

/**
 * The terms a version is published with, every default filled in: a version keeps the terms it runs with, whatever
 * later becomes of the defaults in code.
 */
const withDefaults = (terms: z.infer<typeof TermsInput> | undefined): ReferralTerms => {
  const given: ReferralTerms = {
    ...DEFAULT_REFERRAL_TERMS,
    ...Object.fromEntries(Object.entries(terms ?? {}).filter(([, v]) => v !== undefined)),
  };
  return { ...given, ...rewardTerms(given), review: reviewTerms(given), tiers: tierTerms(given) };
};

const toProgram = (p: ProgramWithVersions): z.infer<typeof ProgramSchema> => {
  // Versions published before a term existed run with its default: show what they run with.
  const versions = p.versions.map((v) => ({
    version: v.version,
    terms: {
      ...v.terms,
      lateEventGrace: v.terms.lateEventGrace ?? DEFAULT_REFERRAL_TERMS.lateEventGrace!,
      ...rewardTerms(v.terms),
      review: reviewTerms(v.terms),
      tiers: tierTerms(v.terms),
    },
    createdAt: v.created_at.toISOString(),
  }));
  return {
    id: p.id,
    name: p.name,
    currency: p.currency.trim(),
    active: p.active,
    version: p.current_version,
    terms: versions.find((v) => v.version === p.current_version)!.terms,
    versions,
    createdAt: p.created_at.toISOString(),
    updatedAt: p.updated_at.toISOString(),
  };
};

const ProgramParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' } }) });

export const programRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'createProgram',
      tags: ['Programs'],
      summary: 'Create a programme (version 1 of its terms)',
      request: {
        body: jsonBody(z.object({ name: Text(1, 200), currency: Currency, terms: TermsInput.optional() }).strict()),
      },
      responses: {
        201: { description: 'created', content: { 'application/json': { schema: ProgramSchema } } },
        ...problems(400, 401, 403, 413, 415, 422, 500),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      requireKnownTimeZone(body.terms);
      requireDistinctTiers(body.terms);
      requirePayableReferrerPoints(body.terms);
      const program = await createProgram(c.var.deps.db, {
        id: randomUUID(),
        name: body.name,
        currency: body.currency,
        terms: withDefaults(body.terms),
      });
      c.var.deps.logger.info({ actor: c.var.actor, programId: program.id }, 'programme created');
      return c.json(toProgram(program), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/versions',
      operationId: 'publishProgramVersion',
      tags: ['Programs'],
      summary: 'Publish new terms; referrals already running keep theirs until an admin moves them (POST /{id}/moves)',
      request: { params: ProgramParams, body: jsonBody(z.object({ terms: TermsInput }).strict()) },
      responses: {
        201: { description: 'published', content: { 'application/json': { schema: ProgramSchema } } },
        ...problems(400, 401, 403, 404, 413, 415, 422, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { terms } = c.req.valid('json');
      requireKnownTimeZone(terms);
      requireDistinctTiers(terms);
      requirePayableReferrerPoints(terms);
      const program = await publishProgramVersion(c.var.deps.db, id, withDefaults(terms));
      if (!program) throw new Problem(404, 'not_found', `no programme ${id}`);
      c.var.deps.logger.info(
        { actor: c.var.actor, programId: id, version: program.current_version },
        'programme version published',
      );
      return c.json(toProgram(program), 201);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getProgram',
      tags: ['Programs'],
      summary: 'A programme with all its versions',
      request: { params: ProgramParams },
      responses: {
        200: { description: 'the programme', content: { 'application/json': { schema: ProgramSchema } } },
        ...problems(400, 401, 403, 404, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const program = await findProgram(c.var.deps.db, id);
      if (!program) throw new Problem(404, 'not_found', `no programme ${id}`);
      return c.json(toProgram(program), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      operationId: 'setProgramActive',
      tags: ['Programs'],
      summary: 'Activate or deactivate a programme (an inactive programme refuses new signups and claims)',
      request: { params: ProgramParams, body: jsonBody(z.object({ active: z.boolean() }).strict()) },
      responses: {
        200: { description: 'updated', content: { 'application/json': { schema: ProgramSchema } } },
        ...problems(400, 401, 403, 404, 413, 415, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const program = await setProgramActive(c.var.deps.db, id, c.req.valid('json').active);
      if (!program) throw new Problem(404, 'not_found', `no programme ${id}`);
      c.var.deps.logger.info(
        { actor: c.var.actor, programId: id, active: program.active },
        'programme activation changed',
      );
      return c.json(toProgram(program), 200);
    },
  );
