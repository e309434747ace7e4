import { createRoute, z } from '@hono/zod-openapi';
import { claimReferral } from '../intake/referral-claim';
import { loadReferralView } from '../intake/referral-lookup';
import { createRouter } from './hono';
import { Problem } from './problems';
import { ReferralView } from './referral-view';
import { Context, jsonBody, ReferralCodeString, problems } from './schemas';

const ClaimBody = z
  .object({
    code: ReferralCodeString,
    channel: z.string().min(1).max(50).optional().openapi({ example: 'whatsapp' }),
    invitee: z
      .object({ email: z.email().max(320).optional(), phone: z.string().min(3).max(40).optional() })
      .strict()
      .optional(),
    context: Context.optional(),
  })
  .strict()
  .openapi('Claim');

const ClaimHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: 'repeat a claim safely: the same key answers with the same referral' }),
});

const ClaimedReferral = ReferralView.extend({
  expiresAt: z.string().openapi({ description: 'the claim expires then unless the invitee signs up' }),
}).openapi('ClaimedReferral');

const ReferralParams = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });

export const referralRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['Referrals'],
      summary: 'Claim a code for an invitee who has no account yet (pending)',
      request: { headers: ClaimHeaders, body: jsonBody(ClaimBody) },
      responses: {
        201: { description: 'pending referral', content: { 'application/json': { schema: ClaimedReferral } } },
        ...problems(400, 401, 409, 413, 422, 503),
      },
    }),
    async (c) => {
      const claim = c.req.valid('json');
      const idempotencyKey = c.req.valid('header')['idempotency-key'];
      const { referral, replayed } = await claimReferral(c.var.deps, claim, idempotencyKey);
      if (replayed) c.header('idempotent-replayed', 'true');
      return c.json(referral, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['Referrals'],
      summary: 'Read a referral',
      request: { params: ReferralParams },
      responses: { 200: { description: 'the referral', content: { 'application/json': { schema: ReferralView } } }, ...problems(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const view = await loadReferralView(c.var.deps, id);
      if (!view) throw new Problem(404, 'not_found', `no referral ${id}`);
      return c.json(view, 200);
    },
  );
