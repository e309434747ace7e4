import { createRoute, z } from '@hono/zod-openapi';
import { upsertCustomer } from '../db/customers';
import { findProgram } from '../db/programs';
import { findCodeOfCustomer, issueReferralCode } from '../db/referral-codes';
import { readCustomerReferrals } from '../intake/customer-referrals';
import { recordCustomerContext } from '../intake/fraud-flags';
import { createRouter } from './hono';
import { Problem } from './problems';
import { ReferralView } from './referral-view';
import { Context, Email, Id, InstantOut, jsonBody, PageQuery, problems, Text } from './schemas';

const CustomerParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' }, example: 'cust-42' }) });
const ReferralCodeView = z
  .object({ code: z.string(), programId: z.string(), customerId: z.string(), createdAt: InstantOut })
  .openapi('ReferralCode');

const Count = z.number().int();

const CustomerReferrals = z
  .object({
    customerId: z.string(),
    tier: z
      .object({
        name: z.string().openapi({ example: 'PRO' }),
        multiplier: z.number().openapi({ example: 1.25 }),
        completed: Count.openapi({ description: "the customer's referrals that completed, each counted once" }),
        next: z
          .object({ name: z.string(), minCompleted: Count })
          .nullable()
          .openapi({ description: 'the tier reached next and at how many completed referrals; null at the top' }),
      })
      .openapi({
        description:
          "the tier the completed referrals reached, by the tiers of the programme of the customer's newest referral code (the default tiers without one); a completion is paid at the multiplier of the tier the completions before it reached",
      }),
    stats: z
      .object({
        sent: Count,
        registered: Count.openapi({ description: 'reached registration, whatever became of them after' }),
        qualified: Count.openapi({ description: 'qualified, whatever became of them after' }),
        completed: Count,
        expired: Count,
        rejected: Count,
      })
      .openapi({ description: 'every referral the customer sent, counted by how far it got' }),
    items: z.array(ReferralView),
    nextCursor: z.string().nullable().openapi({ description: 'pass as cursor for the next page; null on the last' }),
  })
  .openapi('CustomerReferrals');

const CustomerReferralsQuery = z.object(PageQuery('customer-referrals'));

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
  )
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/referrals',
      operationId: 'getCustomerReferrals',
      tags: ['Customers'],
      summary: 'The referrals a customer sent, newest first, with their tier and counts',
      description:
        'Pages follow (createdAt, id), which no change to a referral moves: paging while referrals are created and changed lists none twice and passes over none that existed when the first page was read. A customer never seen is 404.',
      request: { params: CustomerParams, query: CustomerReferralsQuery },
      responses: {
        200: {
          description: "the customer's referrals",
          content: { 'application/json': { schema: CustomerReferrals } },
        },
        ...problems(400, 401, 404, 422, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      return c.json(await readCustomerReferrals(c.var.deps, { customerId: id, ...c.req.valid('query') }), 200);
    },
  );
