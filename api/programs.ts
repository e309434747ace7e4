import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import {
  createProgram,
  findProgram,
  publishProgramVersion,
  setProgramActive,
  type ProgramWithVersions,
} from '../db/programs';
import { DEFAULT_REFERRAL_TERMS, type ReferralTerms } from '../workflows/shared';
import { createRouter } from './hono';
import { Problem } from './problems';
import { Currency, Duration, DurationOrZero, Id, InstantOut, MinorUnits, problems, jsonBody, Text } from './schemas';

const TermsInput = z
  .object({
    referralExpiry: Duration.optional(),
    qualificationWindow: Duration.optional(),
    minOrders: z.number().int().min(1).max(1000).optional(),
    minSpend: MinorUnits.optional(),
    rewardHold: Duration.optional(),
    lateEventGrace: DurationOrZero.optional().openapi({
      description: 'how long after a deadline facts that happened before it still count (default 5 minutes); 0 allowed',
    }),
  })
  .strict()
  .openapi('TermsInput', { description: 'any term left out takes the default' });

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

const withDefaults = (terms: z.infer<typeof TermsInput> | undefined): ReferralTerms => ({
  ...DEFAULT_REFERRAL_TERMS,
  ...Object.fromEntries(Object.entries(terms ?? {}).filter(([, v]) => v !== undefined)),
});

const toProgram = (p: ProgramWithVersions): z.infer<typeof ProgramSchema> => {
  // Versions published before a term existed run with its default: show what they run with.
  const versions = p.versions.map((v) => ({
    version: v.version,
    terms: { ...v.terms, lateEventGrace: v.terms.lateEventGrace ?? DEFAULT_REFERRAL_TERMS.lateEventGrace! },
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
        ...problems(400, 401, 403, 413, 415, 500),
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
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
      summary: 'Publish new terms; referrals already running keep theirs',
      request: { params: ProgramParams, body: jsonBody(z.object({ terms: TermsInput }).strict()) },
      responses: {
        201: { description: 'published', content: { 'application/json': { schema: ProgramSchema } } },
        ...problems(400, 401, 403, 404, 413, 415, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const program = await publishProgramVersion(c.var.deps.db, id, withDefaults(c.req.valid('json').terms));
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
