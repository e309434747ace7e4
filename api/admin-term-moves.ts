import { createRoute, z } from '@hono/zod-openapi';
import { MOVABLE_STATUSES } from '../db/term-moves';
import {
  listTermsMoveReferrals,
  MAX_DRY_RUN_REFERRALS,
  previewTermsMove,
  readTermsMove,
  startTermsMove,
} from '../intake/term-moves';
import type { TermsMoveSelection } from '../workflows/terms-move';
import { createRouter } from './hono';
import { Id, Instant, InstantOut, jsonBody, PageQuery, problems, ReferralId, Text } from './schemas';

const MAX_LISTED_REFERRALS = 1_000;

const MoveParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' } }) });
const MoveItemParams = MoveParams.extend({ moveId: Id.openapi({ param: { name: 'moveId', in: 'path' } }) });

const MovableStatus = z.enum(MOVABLE_STATUSES);

const Version = z.number().int().min(1).max(2_147_483_647);

const MoveRequest = z
  .object({
    moveId: Id.openapi({
      description:
        'your key for this move, and its id: the same moveId again with the same body answers the move it started (duplicate: true); with another body it is 409 idempotency_conflict. A dry run keeps nothing under it',
      example: 'spring-terms-1',
    }),
    toVersion: Version.openapi({ description: 'the programme version to move to' }),
    referralIds: z
      .array(ReferralId)
      .min(1)
      .max(MAX_LISTED_REFERRALS)
      .optional()
      .openapi({
        description: `these referrals (1 to ${MAX_LISTED_REFERRALS}, each once); without it, every open referral of the programme`,
      }),
    status: MovableStatus.optional().openapi({ description: 'only referrals in this status' }),
    fromVersion: Version.optional().openapi({ description: 'only referrals under this version' }),
    createdFrom: Instant.optional().openapi({ description: 'only referrals created at or after this instant' }),
    createdTo: Instant.optional().openapi({ description: 'only referrals created before this instant' }),
    dryRun: z.boolean().optional().openapi({
      description: 'true: answer (200) what the move would do to each referral, change nothing (default false)',
    }),
    reason: Text(0, 500).optional().openapi({ description: 'why, kept in the audit log and on each timeline' }),
  })
  .strict()
  .openapi('TermsMoveRequest');

// Inline, not a named component: a nullable reference would not admit null in the published document.
const Deadlines = z.object({
  expiresAt: InstantOut.nullable(),
  qualifyBy: InstantOut.nullable(),
  holdUntil: InstantOut.nullable(),
});

const MovePreview = z
  .object({
    items: z.array(
      z.object({
        referralId: z.string(),
        allowed: z.boolean(),
        reason: z.string().optional().openapi({
          description:
            'why not, starting with a code: ended, other_programme, not_selected, same_version, window_past_new_end, stage_decided, would_lose_qualification, not_found, unreachable',
        }),
        deadlinesBefore: Deadlines.nullable(),
        deadlinesAfter: Deadlines.nullable(),
        changes: z.record(z.string(), z.unknown()).optional().openapi({
          description: 'the deadlines, the qualification instant and the terms that would change, from and to',
        }),
      }),
    ),
    truncated: z.boolean().openapi({
      description: `true: the selection holds more than the ${MAX_DRY_RUN_REFERRALS} referrals a dry run looks at (narrow it with createdFrom/createdTo)`,
    }),
  })
  .openapi('TermsMovePreview');

const MoveView = z
  .object({
    moveId: z.string(),
    state: z.enum(['running', 'done']),
    moved: z.number().int().openapi({ description: 'referrals moved so far' }),
    skipped: z.number().int().openapi({ description: 'referrals the rule left as they were, each with why' }),
    failed: z.number().int().openapi({ description: 'referrals the move could not reach after its retries' }),
    programId: z.string(),
    toVersion: z.number().int(),
    selection: z.record(z.string(), z.unknown()).openapi({ description: 'the referralIds and filters, as asked' }),
    actor: z.string(),
    reason: z.string().nullable(),
    createdAt: InstantOut,
    finishedAt: InstantOut.nullable(),
  })
  .openapi('TermsMove');

const MoveStarted = MoveView.extend({
  duplicate: z
    .boolean()
    .openapi({ description: 'true: this moveId was seen before with this body: this is that move' }),
}).openapi('TermsMoveStarted');

const MoveItem = z
  .object({
    referralId: z.string(),
    outcome: z.enum(['moved', 'skipped', 'failed']),
    fromVersion: z.number().int().nullable(),
    code: z.string().nullable().openapi({
      description:
        'why it was skipped or failed: ended, other_programme, not_selected, same_version, window_past_new_end, stage_decided, would_lose_qualification, not_found, unreachable',
    }),
    reason: z.string().nullable(),
    changes: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: 'the deadlines, the qualification instant and the terms that changed, from and to' }),
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
      description: `A dry run answers at once (200) with what the move would do to each referral, by the rule the move applies, and changes nothing. Otherwise the answer (202) is the move, which runs as a workflow until it has reached every referral selected; read its progress and its outcome per referral with the GET routes. ${RULE} Resumable and idempotent by moveId.`,
      request: { params: MoveParams, body: jsonBody(MoveRequest) },
      responses: {
        200: {
          description: 'a dry run: what the move would do to each referral; nothing changed',
          content: { 'application/json': { schema: MovePreview } },
        },
        202: { description: 'the move, started (or found)', content: { 'application/json': { schema: MoveStarted } } },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422, 500, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { moveId, toVersion, dryRun, reason, referralIds, ...filters } = c.req.valid('json');
      const selection: TermsMoveSelection = {
        ...(referralIds ? { referralIds: referralIds.map((referralId) => referralId.toLowerCase()) } : {}),
        ...Object.fromEntries(Object.entries(filters).filter(([, value]) => value !== undefined)),
      };
      if (dryRun) return c.json(await previewTermsMove(c.var.deps, { programId: id, toVersion, selection }), 200);
      const move = await startTermsMove(c.var.deps, {
        programId: id,
        moveId,
        toVersion,
        selection,
        actor: c.var.actor,
        reason,
      });
      return c.json({ ...move, selection: move.selection as Record<string, unknown> }, 202);
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
      return c.json({ ...move, selection: move.selection as Record<string, unknown> }, 200);
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
