import { createRoute, z } from '@hono/zod-openapi';
import { claimReferral } from '../intake/referral-claim';
import { loadReferralView } from '../intake/referral-lookup';
import { readRewards } from '../intake/referral-rewards';
import { createRouter } from './hono';
import { Problem } from './problems';
import { ReferralView, ReferralWithRewards } from './referral-view';
import { Context, Email, InstantOut, jsonBody, ReferralCodeString, ReferralId, problems, Text } from './schemas';

const ClaimBody = z
  .object({
    code: ReferralCodeString,
    channel: Text(1, 50).optional().openapi({ example: 'whatsapp' }),
    invitee: z
      .object({ email: Email.optional(), phone: Text(3, 40).optional() })
      .strict()
      .optional(),
    context: Context.optional(),
  })
  .strict()
  .openapi('Claim');

const ClaimHeaders = z.object({
  'idempotency-key': Text(1, 200)
    .optional()
    .openapi({ description: 'repeat a claim safely: the same key answers with the same referral' }),
});

const ClaimedReferral = ReferralView.extend({
  expiresAt: InstantOut.openapi({ description: 'the claim expires then unless the invitee signs up' }),
}).openapi('ClaimedReferral');

const ReferralParams = z.object({ id: ReferralId.openapi({ param: { name: 'id', in: 'path' } }) });

export const referralRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/',
      operationId: 'claimReferral',
      tags: ['Referrals'],
      summary: 'Claim a code for an invitee who has no account yet (pending)',
      request: { headers: ClaimHeaders, body: jsonBody(ClaimBody) },
      responses: {
        201: { description: 'pending referral', content: { 'application/json': { schema: ClaimedReferral } } },
        ...problems(400, 401, 409, 413, 415, 422, 500, 503),
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
      operationId: 'getReferral',
      tags: ['Referrals'],
      summary: 'Read a referral',
      request: { params: ReferralParams },
      responses: {
        200: {
          description: 'the referral and what it has paid',
          content: { 'application/json': { schema: ReferralWithRewards } },
        },
        ...problems(400, 401, 404, 500, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const view = await loadReferralView(c.var.deps, id);
      if (!view) throw new Problem(404, 'not_found', `no referral ${id}`);
      return c.json({ ...view, rewards: await readRewards(c.var.deps, id) }, 200);
    },
  );
