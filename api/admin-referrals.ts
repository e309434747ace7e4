import { createRoute, z } from '@hono/zod-openapi';
import { cancelReferral, readAdminReferral } from '../intake/referral-admin';
import { isReferralListCursor, listReferrals, listReviewQueue, type ReferralList } from '../intake/referral-list';
import { createRouter } from './hono';
import { readRewards } from '../intake/referral-rewards';
import { ReferralView, ReferralWithRewards } from './referral-view';
import { Id, Instant, InstantOut, problems, ReferralId, ReferralStatusSchema, Text } from './schemas';

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

const AdminReferralView = ReferralWithRewards.extend({
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

const PageQuery = (list: ReferralList) => ({
  // Digits only: z.coerce would also take 0x10, 1e1 and " 5 ", which the published integer does not allow.
  limit: z
    .string()
    .regex(/^(?:[1-9]|[1-9][0-9]|1[0-9][0-9]|200)$/, 'must be an integer from 1 to 200, in digits')
    .transform(Number)
    .optional()
    .transform((value) => value ?? 50)
    .openapi({ type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'page size, 1 to 200' }),
  // Checked here, so a cursor this list never gave out is refused with the rest of the query (400).
  cursor: Text(1, 500)
    .refine((cursor) => isReferralListCursor(list, cursor), { message: 'not a cursor this list gave out' })
    .optional()
    .openapi({ description: 'nextCursor from the previous page of this list, as given' }),
});

const InstantFilter = (description: string) => Instant.optional().openapi({ description });

const ListQuery = z
  .object({
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
    ...PageQuery('referrals'),
  })
  .superRefine((query, ctx) => {
    for (const [from, to] of [
      ['createdFrom', 'createdTo'],
      ['updatedFrom', 'updatedTo'],
    ] as const) {
      const start = query[from];
      const end = query[to];
      if (start !== undefined && end !== undefined && Date.parse(start) > Date.parse(end))
        ctx.addIssue({ code: 'custom', path: [to], message: `must not lie before ${from}` });
    }
  });

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
        ...problems(400, 401, 403, 500),
      },
    }),
    async (c) => c.json(await listReferrals(c.var.deps, c.req.valid('query')), 200),
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
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      operationId: 'cancelReferral',
      tags: ['Admin'],
      summary: 'Cancel a live referral (audited with the key name as actor)',
      request: {
        params: ReferralParams,
        body: {
          content: { 'application/json': { schema: z.object({ reason: Text(0, 500).optional() }).strict() } },
          required: false,
        },
      },
      responses: {
        200: { description: 'cancelled', content: { 'application/json': { schema: ReferralView } } },
        ...problems(400, 401, 403, 404, 409, 413, 415, 500, 503),
      },
    }),
    async (c) => {
      const { reason } = c.req.valid('json') ?? {};
      const referral = await cancelReferral(c.var.deps, {
        referralId: c.req.valid('param').id,
        actor: c.var.actor,
        reason,
      });
      return c.json(referral, 200);
    },
  );

/** Mounted at /v1/admin/review-queue. */
export const adminReviewQueueRoutes = createRouter().openapi(
  createRoute({
    method: 'get',
    path: '/',
    operationId: 'listReviewQueue',
    tags: ['Admin'],
    summary: 'Referrals under review, waiting for an approve or reject: oldest first',
    description: PAGING,
    request: { query: z.object(PageQuery('review-queue')) },
    responses: {
      200: { description: 'a page of referrals', content: { 'application/json': { schema: ReferralPage } } },
      ...problems(400, 401, 403, 500),
    },
  }),
  async (c) => c.json(await listReviewQueue(c.var.deps, c.req.valid('query')), 200),
);
