import { createRoute, z } from '@hono/zod-openapi';
import { upsertCustomer } from '../db/customers';
import { findProgram } from '../db/programs';
import { findCodeOfCustomer, issueReferralCode } from '../db/referral-codes';
import { recordCustomerContext } from '../intake/fraud-flags';
import { createRouter } from './hono';
import { Problem } from './problems';
import { Context, Email, Id, InstantOut, jsonBody, problems, Text } from './schemas';

const CustomerParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' }, example: 'cust-42' }) });
const ReferralCodeView = z
  .object({ code: z.string(), programId: z.string(), customerId: z.string(), createdAt: InstantOut })
  .openapi('ReferralCode');

export const customerRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/referral-code',
      operationId: 'issueReferralCode',
      tags: ['Customers'],
      summary: "Issue the customer's referral code for a programme (200 when it already exists)",
      request: {
        params: CustomerParams,
        body: jsonBody(
          z
            .object({
              programId: Id,
              email: Email.optional().openapi({
                description: "the referrer's e-mail: a referee with the same one is a self-referral",
              }),
              phone: Text(3, 40)
                .optional()
                .openapi({ description: "the referrer's phone: a referee with the same one is a self-referral" }),
              context: Context.optional().openapi({
                description:
                  'where the referrer asked from: a referee from the same IP is flagged SAME_IP, one on the same device DEVICE_REUSE',
              }),
            })
            .strict(),
        ),
      },
      responses: {
        201: { description: 'issued', content: { 'application/json': { schema: ReferralCodeView } } },
        200: { description: 'already issued', content: { 'application/json': { schema: ReferralCodeView } } },
        ...problems(400, 401, 404, 409, 413, 415, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { programId, email, phone, context } = c.req.valid('json');
      const program = await findProgram(c.var.deps.db, programId);
      if (!program) throw new Problem(404, 'not_found', `no programme ${programId}`);
      const existing = await findCodeOfCustomer(c.var.deps.db, id, programId);
      if (!existing && !program.active)
        throw new Problem(409, 'program_inactive', `programme ${programId} is not active`);
      // Kept for the self-referral rule, normalised as signups are: nobody refers their own address under a new id.
      await upsertCustomer(c.var.deps.db, { id, email, phone });
      // Every request for the code is a sighting of the referrer, not only the first: referees are compared with all.
      await recordCustomerContext(c.var.deps.db, id, context, c.var.deps.clock());
      const { code, created } = await issueReferralCode(c.var.deps.db, id, programId);
      const view = { code: code.code, programId, customerId: id, createdAt: code.created_at.toISOString() };
      return created ? c.json(view, 201) : c.json(view, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/referral-code',
      operationId: 'getReferralCode',
      tags: ['Customers'],
      summary: "Read the customer's referral code for a programme",
      request: { params: CustomerParams, query: z.object({ programId: Id }) },
      responses: {
        200: { description: 'the code', content: { 'application/json': { schema: ReferralCodeView } } },
        ...problems(400, 401, 404, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const { programId } = c.req.valid('query');
      const code = await findCodeOfCustomer(c.var.deps.db, id, programId);
      if (!code) throw new Problem(404, 'not_found', `customer ${id} has no code in programme ${programId}`);
      return c.json({ code: code.code, programId, customerId: id, createdAt: code.created_at.toISOString() }, 200);
    },
  );
