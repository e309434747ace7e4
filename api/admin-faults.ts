import { createRoute, z } from '@hono/zod-openapi';
import { listReferralFaults } from '../intake/referral-faults';
import { createRouter } from './hono';
import { InstantOut, PageQuery, problems } from './schemas';

const ReferralFault = z
  .object({
    faultId: z.string(),
    referralId: z.string().openapi({ format: 'uuid' }),
    activity: z.string().openapi({ description: 'the activity that failed' }),
    failureType: z.string().openapi({ example: 'database_data_error' }),
    message: z.string(),
    status: z.string().openapi({ description: "the referral's status when it stopped" }),
    createdAt: InstantOut,
  })
  .openapi('ReferralFault');

const ReferralFaultPage = z
  .object({ items: z.array(ReferralFault), nextCursor: z.string().nullable() })
  .openapi('ReferralFaultPage');

export const adminFaultRoutes = createRouter().openapi(
  createRoute({
    method: 'get',
    path: '/',
    operationId: 'listReferralFaults',
    tags: ['Admin'],
    summary: 'Referrals stopped by a failure no retry could fix (a value the database refuses, say), newest first',
    description:
      'Each such referral recorded its fault, logged it at error level and failed its workflow (visible in the Temporal UI); a referee whose registration never reached the projection was released.',
    request: { query: z.object(PageQuery('faults')) },
    responses: {
      200: { description: 'a page of faults', content: { 'application/json': { schema: ReferralFaultPage } } },
      ...problems(400, 401, 403, 422, 500),
    },
  }),
  async (c) => {
    const { limit, cursor } = c.req.valid('query');
    return c.json(await listReferralFaults(c.var.deps, { limit: limit ?? 50, cursor }), 200);
  },
);
