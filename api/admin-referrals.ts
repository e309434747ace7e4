import { createRoute, z } from '@hono/zod-openapi';
import {
  performAdminAction,
  type AdminAction,
  type AdminActionOutcome,
  type AdminActionRequest,
} from '../intake/admin-actions';
import { cancelReferral, readAdminReferral } from '../intake/referral-admin';
import { listReferrals, listReviewQueue, type ReferralList } from '../intake/referral-list';
import { IntakeError } from '../intake/errors';
import type { AppDependencies } from './deps';
import { createRouter } from './hono';
import { readRewards } from '../intake/referral-rewards';
import { ReferralView, ReferralWithRewards } from './referral-view';
import { MAX_TERM_DURATION } from '../workflows/durations';
import {
  Duration,
  Id,
  Instant,
  InstantOut,
  jsonBody,
  PageQuery,
  problems,
  ReferralId,
  ReferralStatusSchema,
  Text,
} from './schemas';

const ReferralParams = z.object({ id: ReferralId.openapi({ param: { name: 'id', in: 'path' } }) });

const TimelineItem = z
  .object({
    seq: z.number().int(),
    at: InstantOut,
    kind: z.string(),
    status: z.string(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('TimelineEntry');

export const AdminReferralView = ReferralWithRewards.extend({
  live: z.record(z.string(), z.unknown()).nullable().openapi({
    description: "the workflow's own state from a query: status, deadlines, counted orders, recent timeline",
  }),
  timeline: z.array(TimelineItem),
}).openapi('AdminReferral');

const ReferralPage = z
  .object({
    items: z.array(ReferralView),
    nextCursor: z.string().nullable().openapi({ description: 'pass as cursor for the next page; null on the last' }),
  })
  .openapi('ReferralPage');

const InstantFilter = (description: string) => Instant.optional().openapi({ description });

const ListQuery = z.object({
  status: ReferralStatusSchema.optional(),
  referrerId: Id.optional(),
  refereeId: Id.optional(),
  programId: Id.optional(),
  flagged: z
    .enum(['true', 'false'])
    .transform((value) => value === 'true')
    .optional()
    .openapi({ description: 'true: referrals with at least one fraud flag; false: those with none' }),
  createdFrom: InstantFilter('created at or after this instant'),
  createdTo: InstantFilter('created before this instant'),
  updatedFrom: InstantFilter('last changed at or after this instant'),
  updatedTo: InstantFilter('last changed before this instant'),
  ...PageQuery('referrals' satisfies ReferralList),
});

/** A range whose end lies before its start: allowed by the document, refused as a rule (422), like a foreign cursor. */
function refuseInvertedRanges(query: Record<string, unknown>, ranges: ReadonlyArray<readonly [string, string]>): void {
  for (const [from, to] of ranges) {
    const start = query[from];
    const end = query[to];
    if (typeof start === 'string' && typeof end === 'string' && Date.parse(start) > Date.parse(end))
      throw new IntakeError('validation_failed', `${to} lies before ${from}`, [
        { path: to, message: `must not lie before ${from}` },
      ]);
  }
}

const RequestId = Id.openapi({
  description:
    'your key for this action: the same requestId again with the same body answers what the first request did (200 with duplicate: true, or its refusal) and changes nothing; with another body, action or referral it is 409 idempotency_conflict',
  example: 'ticket-4411-1',
});

const Reason = Text(0, 500).optional().openapi({ description: 'why, kept in the audit log and on the timeline' });

const ApproveRequest = z.object({ requestId: RequestId, reason: Reason }).strict().openapi('ApproveRequest');

const RejectRequest = z
  .object({
    requestId: RequestId,
    reason: Text(1, 500).openapi({ description: 'why, kept in the audit log and on the timeline' }),
  })
  .strict()
  .openapi('RejectRequest');

const CancelRequest = z.object({ requestId: RequestId, reason: Reason }).strict().openapi('CancelRequest');

const ExtendRequest = z
  .object({
    requestId: RequestId,
    by: Duration.optional().openapi({ description: 'added to the current deadline' }),
    until: Instant.optional().openapi({
      description: `the new deadline, later than the current one and at most ${MAX_TERM_DURATION} from now`,
    }),
    reason: Reason,
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.by === undefined) === (body.until === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of by (a duration) or until (an instant)' });
  })
  // The rule "exactly one of by and until", published: a body with both matches both branches, one with neither none.
  .openapi('ExtendRequest', { oneOf: [{ required: ['by'] }, { required: ['until'] }] });

const AdminActionResult = AdminReferralView.extend({
  duplicate: z.boolean().openapi({
    description: "true: this requestId was seen before with this body, and this is that request's outcome",
  }),
}).openapi('AdminActionResult');

const ACTIONS = {
  approve: {
    summary: 'Approve a referral under review: it goes on as registered and its voucher is issued',
    refused: 'a referral that is not under review',
  },
  reject: {
    summary: 'Reject a referral: it ends as rejected, pays nothing more and its unused voucher is void',
    refused: 'a referral that has ended',
  },
  cancel: {
    summary: 'Cancel a live referral: it ends as cancelled and its unused voucher is void',
    refused: 'a referral that has ended (409 referral_closed)',
  },
  extend: {
    summary: "Move the current stage's deadline later: the expiry, the qualification window, the hold or the review",
    refused: 'a referral with no deadline running, or a new deadline that is not later than the current one',
  },
} as const;

/** The route of one admin action: the same contract for each, only the body differs. */
const actionRoute = <Body extends z.ZodType>(action: AdminAction, body: Body) =>
  createRoute({
    method: 'post',
    path: `/{id}/${action}`,
    operationId: `${action}Referral`,
    tags: ['Admin'],
    summary: ACTIONS[action].summary,
    description: `Applied by the referral's workflow, audited with the key's name as actor (GET /v1/admin/audit), and answered with the referral as GET /v1/admin/referrals/{id} shows it once the change is in the projection. Refused with 409 invalid_transition, nothing changed, for ${ACTIONS[action].refused}. Idempotent by requestId.`,
    request: { params: ReferralParams, body: jsonBody(body) },
    responses: {
      200: {
        description: 'the referral after the action',
        content: { 'application/json': { schema: AdminActionResult } },
      },
      ...problems(400, 401, 403, 404, 409, 413, 415, ...(action === 'extend' ? [422] : []), 500, 503),
    },
  });

const answer = (outcome: AdminActionOutcome) => ({
  ...outcome,
  live: outcome.live as unknown as Record<string, unknown> | null,
});

/** The action as the intake takes it: the body's fields, the referral in the path, the key's name as actor. */
const perform = async (
  c: { var: { deps: AppDependencies; actor: string } },
  action: AdminAction,
  referralId: string,
  body: Pick<AdminActionRequest, 'requestId' | 'reason' | 'by' | 'until'>,
) => answer(await performAdminAction(c.var.deps, { action, referralId, actor: c.var.actor, ...body }));

const PAGING =
  'Pages follow (createdAt, id), which no change to a referral moves: paging while referrals are created and changed lists none twice and passes over none that existed when the first page was read.';

export const adminReferralRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'listReferrals',
      tags: ['Admin'],
      summary: 'Referrals matching every filter given, newest first',
      description: `${PAGING} Instant ranges include their start and exclude their end.`,
      request: { query: ListQuery },
      responses: {
        200: { description: 'a page of referrals', content: { 'application/json': { schema: ReferralPage } } },
        ...problems(400, 401, 403, 422, 500),
      },
    }),
    async (c) => {
      const query = c.req.valid('query');
      refuseInvertedRanges(query, [
        ['createdFrom', 'createdTo'],
        ['updatedFrom', 'updatedTo'],
      ]);
      return c.json(await listReferrals(c.var.deps, query), 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getAdminReferral',
      tags: ['Admin'],
      summary: 'A referral with its live workflow state and its whole timeline',
      request: { params: ReferralParams },
      responses: {
        200: { description: 'the referral', content: { 'application/json': { schema: AdminReferralView } } },
        ...problems(400, 401, 403, 404, 500, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const referral = await readAdminReferral(c.var.deps, id);
      return c.json(
        {
          ...referral,
          live: referral.live as unknown as Record<string, unknown> | null,
          rewards: await readRewards(c.var.deps, id),
        },
        200,
      );
    },
  )
  .openapi(actionRoute('approve', ApproveRequest), async (c) =>
    c.json(await perform(c, 'approve', c.req.valid('param').id, c.req.valid('json')), 200),
  )
  .openapi(actionRoute('reject', RejectRequest), async (c) =>
    c.json(await perform(c, 'reject', c.req.valid('param').id, c.req.valid('json')), 200),
  )
  .openapi(actionRoute('cancel', CancelRequest), async (c) => {
    const { requestId, reason } = c.req.valid('json');
    const { id } = c.req.valid('param');
    return c.json(
      answer(await cancelReferral(c.var.deps, { referralId: id, actor: c.var.actor, requestId, reason })),
      200,
    );
  })
  .openapi(actionRoute('extend', ExtendRequest), async (c) =>
    c.json(await perform(c, 'extend', c.req.valid('param').id, c.req.valid('json')), 200),
  );

/** Mounted at /v1/admin/review-queue. */
export const adminReviewQueueRoutes = createRouter().openapi(
  createRoute({
    method: 'get',
    path: '/',
    operationId: 'listReviewQueue',
    tags: ['Admin'],
    summary: 'Referrals under review, waiting for an approve or reject: the longest waiting first',
    description:
      'Ordered by when each review started (not by when the referral was created: a claim made weeks before its signup waits from that signup). Pages follow (review start, id), which nothing changes while a referral waits: paging while reviews start and end lists none twice and passes over none that was waiting when the first page was read.',
    request: { query: z.object(PageQuery('review-queue' satisfies ReferralList)) },
    responses: {
      200: { description: 'a page of referrals', content: { 'application/json': { schema: ReferralPage } } },
      ...problems(400, 401, 403, 422, 500),
    },
  }),
  async (c) => c.json(await listReviewQueue(c.var.deps, c.req.valid('query')), 200),
);
