import { createRoute, z } from '@hono/zod-openapi';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { currentProgramSnapshot } from '../db/programs';
import { findReferralCode } from '../db/referral-codes';
import { ProgramIdKey, ReferralCodeKey, ReferralStatusKey, ReferrerIdKey } from '../workflows/search-attributes';
import { referralWorkflowId, type ReferralInput } from '../workflows/shared';
import { workflowCallDeadline } from './deps';
import { createRouter } from './hono';
import { newReferralId, uuidFromKey } from './ids';
import { Problem } from './problems';
import { loadReferralView } from './referral-lookup';
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
      const { deps } = c.var;
      const claim = c.req.valid('json');
      const idempotencyKey = c.req.valid('header')['idempotency-key'];
      const code = await findReferralCode(deps.db, claim.code);
      if (!code) throw new Problem(422, 'unknown_code', `no referral code ${claim.code}`);
      const program = await currentProgramSnapshot(deps.db, code.program_id);
      if (!program?.active) throw new Problem(409, 'program_inactive', `programme ${code.program_id} is not active`);

      const { active: _active, ...snapshot } = program;
      const referralId = idempotencyKey ? uuidFromKey('claim', idempotencyKey) : newReferralId();
      const input: ReferralInput = {
        referralId,
        program: snapshot,
        code: code.code,
        referrerId: code.customer_id,
        createdAt: deps.clock().toISOString(),
        origin: 'claim',
        claim: { channel: claim.channel, invitee: claim.invitee, context: claim.context },
      };
      try {
        await deps.temporal.withDeadline(workflowCallDeadline(deps), () => deps.temporal.workflow.start('referralWorkflow', {
          taskQueue: deps.taskQueue,
          workflowId: referralWorkflowId(referralId),
          args: [input],
          // The same Idempotency-Key finds the referral it made, running or ended; it never starts a second run.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: ReferralStatusKey, value: 'pending' },
            { key: ReferrerIdKey, value: input.referrerId },
            { key: ProgramIdKey, value: snapshot.id },
            { key: ReferralCodeKey, value: code.code },
          ],
        }));
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      }
      const view = await loadReferralView(deps, referralId);
      if (!view) throw new Error(`referral ${referralId} was started but cannot be read`);
      deps.logger.info({ actor: c.var.actor, referralId, code: code.code }, 'referral claimed');
      return c.json({ ...view, channel: view.channel ?? claim.channel ?? null, expiresAt: view.deadlines.expiresAt! }, 201);
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
