import { createRoute, z } from '@hono/zod-openapi';
import { MOVABLE_STATUSES } from '../db/term-moves';
import { listTermsMoveReferrals, readTermsMove, startTermsMove } from '../intake/term-moves';
import type { TermsMoveSelection } from '../workflows/terms-move';
import { createRouter } from './hono';
import { Id, Instant, InstantOut, jsonBody, PageQuery, problems, ReferralId, Text } from './schemas';

const MAX_LISTED_REFERRALS = 1_000;

const MoveParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' } }) });
const MoveItemParams = MoveParams.extend({ moveId: Id.openapi({ param: { name: 'moveId', in: 'path' } }) });

const MovableStatus = z.enum(MOVABLE_STATUSES as ['pending', 'registered', 'under_review', 'qualified']);

const MoveFilter = z
  .object({
    statuses: z.array(MovableStatus).min(1).max(4).optional().openapi({ description: 'default: every open status' }),
    fromVersion: z
      .number()
      .int()
      .min(1)
      .max(2_147_483_647)
      .optional()
      .openapi({ description: 'only referrals under this version' }),
    createdFrom: Instant.optional().openapi({ description: 'created at or after this instant' }),
    createdTo: Instant.optional().openapi({ description: 'created before this instant' }),
  })
  .strict()
  .openapi('TermsMoveFilter');

const MoveRequest = z
  .object({
    requestId: Id.openapi({
      description:
        'your key for this move, and its id: the same requestId again with the same body answers the move it started (duplicate: true); with another body it is 409 idempotency_conflict',
      example: 'spring-terms-1',
    }),
    toVersion: z.number().int().min(1).max(2_147_483_647).openapi({ description: 'the programme version to move to' }),
    referralIds: z
      .array(ReferralId)
      .min(1)
      .max(MAX_LISTED_REFERRALS)
      .optional()
      .openapi({ description: `these referrals (1 to ${MAX_LISTED_REFERRALS}, each once); or give filter` }),
    filter: MoveFilter.optional().openapi({
      description: "the programme's open referrals matching it; or give referralIds",
    }),
    dryRun: z
      .boolean()
      .optional()
      .openapi({ description: 'true: say what the move would change, change nothing (default false)' }),
    reason: Text(0, 500).optional().openapi({ description: 'why, kept in the audit log and on each timeline' }),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.referralIds === undefined) === (body.filter === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of referralIds or filter' });
  })
  .openapi('TermsMoveRequest', { oneOf: [{ required: ['referralIds'] }, { required: ['filter'] }] });

const MoveView = z
  .object({
    moveId: z.string(),
    programId: z.string(),
    toVersion: z.number().int(),
    dryRun: z.boolean(),
    status: z.enum(['running', 'finished']),
    selection: z.record(z.string(), z.unknown()).openapi({ description: 'the referralIds or the filter, as asked' }),
    actor: z.string(),
    reason: z.string().nullable(),
    createdAt: InstantOut,
    finishedAt: InstantOut.nullable(),
    counts: z
      .object({
        moved: z.number().int(),
        wouldMove: z.number().int(),
        unchanged: z.number().int(),
        refused: z.number().int(),
      })
      .openapi({ description: 'referrals reached so far, by outcome' }),
  })
  .openapi('TermsMove');

const MoveStarted = MoveView.extend({
  duplicate: z
    .boolean()
    .openapi({ description: 'true: this requestId was seen before with this body: this is that move' }),
}).openapi('TermsMoveStarted');

const MoveItem = z
  .object({
    referralId: z.string(),
    outcome: z.enum(['moved', 'would_move', 'unchanged', 'refused']),
    fromVersion: z.number().int().nullable(),
    code: z.string().nullable().openapi({
      description:
        'why it was refused or unchanged: ended, other_programme, same_version, window_past_new_end, would_lose_qualification, not_found',
    }),
    reason: z.string().nullable(),
    changes: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'the deadlines (from, to) and the terms (from, to) that changed, or would' }),
    at: InstantOut,
  })
  .openapi('TermsMoveItem');

const MoveItemPage = z
  .object({
    items: z.array(MoveItem),
    nextCursor: z.string().nullable().openapi({ description: 'pass as cursor for the next page; null on the last' }),
  })
  .openapi('TermsMoveItemPage');

const RULE =
  "Each referral applies the move in its own workflow, by one rule (the dry run uses the same): only open referrals of this programme move; each running deadline is counted again from its anchor with the new terms (the expiry from the claim, the qualification window from the signup, the hold from the qualification), never before a deadline an admin extended, and never cut to an end already past; a qualified referral keeps its qualification or is refused; the review's decision instant stays; rewards, review rules, tiers and grace of the new version apply from the move on. Each moved referral has a terms_moved timeline entry and a 'move' audit entry.";

/** Mounted at /v1/admin/programs, beside the programme routes. */
export const adminTermMoveRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/moves',
      operationId: 'moveReferralsToTerms',
      tags: ['Admin'],
      summary: "Move open referrals to another version of the programme's terms, or say what that would change",
      description: `Answers at once with the move, which runs as a workflow until it has reached every referral selected; read its progress and its outcome per referral with the GET routes. ${RULE} Resumable and idempotent by requestId.`,
      request: { params: MoveParams, body: jsonBody(MoveRequest) },
      responses: {
        202: { description: 'the move, started (or found)', content: { 'application/json': { schema: MoveStarted } } },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422, 500, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const selection: TermsMoveSelection = body.referralIds
        ? { referralIds: body.referralIds.map((referralId) => referralId.toLowerCase()) }
        : { filter: body.filter! };
      const move = await startTermsMove(c.var.deps, {
        programId: id,
        requestId: body.requestId,
        toVersion: body.toVersion,
        selection,
        dryRun: body.dryRun ?? false,
        actor: c.var.actor,
        reason: body.reason,
      });
      return c.json({ ...move, selection: move.selection as unknown as Record<string, unknown> }, 202);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/moves/{moveId}',
      operationId: 'getTermsMove',
      tags: ['Admin'],
      summary: 'A move of referrals to new terms: whether it has finished, and its outcomes so far',
      request: { params: MoveItemParams },
      responses: {
        200: { description: 'the move', content: { 'application/json': { schema: MoveView } } },
        ...problems(400, 401, 403, 404, 500),
      },
    }),
    async (c) => {
      const { id, moveId } = c.req.valid('param');
      const move = await readTermsMove(c.var.deps, id, moveId);
      return c.json({ ...move, selection: move.selection as unknown as Record<string, unknown> }, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/moves/{moveId}/referrals',
      operationId: 'listTermsMoveReferrals',
      tags: ['Admin'],
      summary: 'What a move did (or, as a dry run, would do) to each referral it reached, by referral id',
      request: { params: MoveItemParams, query: z.object(PageQuery('term-move-referrals')) },
      responses: {
        200: { description: 'a page of outcomes', content: { 'application/json': { schema: MoveItemPage } } },
        ...problems(400, 401, 403, 404, 422, 500),
      },
    }),
    async (c) => {
      const { id, moveId } = c.req.valid('param');
      return c.json(await listTermsMoveReferrals(c.var.deps, id, moveId, c.req.valid('query')), 200);
    },
  );
