import { createRoute, z } from '@hono/zod-openapi';
import { findReferral, findTimeline } from '../db/referrals';
import { cancelUpdate } from '../workflows/messages';
import { referralWorkflowId } from '../workflows/shared';
import { workflowCallDeadline } from './deps';
import { createRouter } from './hono';
import { Problem } from './problems';
import { loadReferralView, queryLiveState } from './referral-lookup';
import { ReferralView, toReferralView } from './referral-view';
import { problems } from './schemas';
import { refusalProblem } from './temporal-errors';

const ReferralParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });

const TimelineItem = z
  .object({ seq: z.number().int(), at: z.string(), kind: z.string(), status: z.string(), detail: z.record(z.string(), z.unknown()).nullable() })
  .openapi('TimelineEntry');

const AdminReferralView = ReferralView.extend({
  live: z
    .record(z.string(), z.unknown())
    .nullable()
    .openapi({ description: "the workflow's own state from a query: status, deadlines, counted orders, recent timeline" }),
  timeline: z.array(TimelineItem),
}).openapi('AdminReferral');

export const adminReferralRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['Admin'],
      summary: 'A referral with its live workflow state and its whole timeline',
      request: { params: ReferralParams },
      responses: {
        200: { description: 'the referral', content: { 'application/json': { schema: AdminReferralView } } },
        ...problems(400, 401, 403, 404),
      },
    }),
    async (c) => {
      const { deps } = c.var;
      const { id } = c.req.valid('param');
      const [view, timeline, live] = await Promise.all([
        loadReferralView(deps, id),
        findTimeline(deps.db, id),
        queryLiveState(deps, id).catch((error: unknown) => {
          deps.logger.warn({ err: error, referralId: id }, 'live state unavailable');
          return undefined;
        }),
      ]);
      if (!view) throw new Problem(404, 'not_found', `no referral ${id}`);
      return c.json(
        {
          ...view,
          live: live ? (live as unknown as Record<string, unknown>) : null,
          timeline: timeline.map((t) => ({ seq: t.seq, at: t.at.toISOString(), kind: t.kind, status: t.status, detail: t.detail })),
        },
        200,
      );
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/cancel',
      tags: ['Admin'],
      summary: 'Cancel a live referral (audited with the key name as actor)',
      request: {
        params: ReferralParams,
        body: { content: { 'application/json': { schema: z.object({ reason: z.string().max(500).optional() }).strict() } }, required: false },
      },
      responses: {
        200: { description: 'cancelled', content: { 'application/json': { schema: ReferralView } } },
        ...problems(400, 401, 403, 404, 409, 503),
      },
    }),
    async (c) => {
      const { deps } = c.var;
      const { id } = c.req.valid('param');
      const { reason } = c.req.valid('json') ?? {};
      if (!(await findReferral(deps.db, id))) throw new Problem(404, 'not_found', `no referral ${id}`);
      try {
        await deps.temporal.withDeadline(workflowCallDeadline(deps), () =>
          deps.temporal.workflow.getHandle(referralWorkflowId(id)).executeUpdate(cancelUpdate, { args: [{ actor: c.var.actor, reason }] }),
        );
      } catch (error) {
        throw refusalProblem(error) ?? error;
      }
      deps.logger.info({ actor: c.var.actor, referralId: id, reason }, 'referral cancelled');
      return c.json(toReferralView((await findReferral(deps.db, id))!), 200);
    },
  );
