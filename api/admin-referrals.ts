import { createRoute, z } from '@hono/zod-openapi';
import { cancelReferral, readAdminReferral } from '../intake/referral-admin';
import { createRouter } from './hono';
import { readRewards } from '../intake/referral-rewards';
import { ReferralView, ReferralWithRewards } from './referral-view';
import { InstantOut, problems, ReferralId, Text } from './schemas';

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

export const adminReferralRoutes = createRouter()
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
