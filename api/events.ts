import { createRoute, z } from '@hono/zod-openapi';
import { handleOrder } from '../intake/order-delivery';
import { handleSignup } from '../intake/signup-registration';
import { createRouter } from './hono';
import { Problem } from './problems';
import { Context, Currency, Id, Instant, MinorUnits, notInFuture, OrderStatusSchema, problems, ReferralCodeString, jsonBody } from './schemas';

const SignupBody = z
  .object({
    eventId: Id,
    customerId: Id,
    code: ReferralCodeString.optional(),
    referralId: z.uuid().optional(),
    email: z.email().max(320).optional(),
    phone: z.string().min(3).max(40).optional(),
    occurredAt: Instant.optional().openapi({ description: 'the registration instant; defaults to receipt' }),
    context: Context.optional(),
  })
  .strict()
  .openapi('SignupEvent');

const OrderBody = z
  .object({
    eventId: Id,
    customerId: Id,
    orderId: Id,
    status: OrderStatusSchema,
    amount: MinorUnits,
    currency: Currency,
    occurredAt: Instant,
  })
  .strict()
  .openapi('OrderEvent');

const SignupAnswer = z
  .object({ duplicate: z.boolean(), referred: z.boolean().optional(), referralId: z.string().optional(), status: z.string().optional() })
  .passthrough()
  .openapi('SignupResult');

const refuseFuture = (occurredAt: string | undefined, now: Date): void => {
  if (occurredAt && !notInFuture(occurredAt, now)) {
    throw new Problem(400, 'validation_failed', 'occurredAt is more than 5 minutes in the future', [
      { path: 'occurredAt', message: 'more than 5 minutes in the future' },
    ]);
  }
};


export const eventRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/signups',
      tags: ['Events'],
      summary: 'Report a signup: registers the referral it belongs to, or creates one',
      request: { body: jsonBody(SignupBody) },
      responses: {
        201: { description: 'registered', content: { 'application/json': { schema: SignupAnswer } } },
        200: { description: 'no code, or a replay of an event already applied', content: { 'application/json': { schema: SignupAnswer } } },
        ...problems(400, 401, 404, 409, 413, 422, 503),
      },
    }),
    async (c) => {
      const { deps } = c.var;
      const body = c.req.valid('json');
      refuseFuture(body.occurredAt, deps.clock());
      const outcome = await handleSignup(deps, body);
      const result = { ...outcome.body, duplicate: outcome.duplicate } as z.infer<typeof SignupAnswer>;
      return outcome.registered ? c.json(result, 201) : c.json(result, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/orders',
      tags: ['Events'],
      summary: "Report an order's status change (placed, completed, cancelled, refunded)",
      request: { body: jsonBody(OrderBody) },
      responses: {
        202: {
          description: 'kept and being applied; a replayed eventId is acknowledged with duplicate: true',
          content: { 'application/json': { schema: z.object({ eventId: z.string(), duplicate: z.boolean() }) } },
        },
        ...problems(400, 401, 409, 413),
      },
    }),
    async (c) => {
      const { deps } = c.var;
      const order = c.req.valid('json');
      refuseFuture(order.occurredAt, deps.clock());
      const { duplicate } = await handleOrder(deps, order);
      return c.json({ eventId: order.eventId, duplicate }, 202);
    },
  );
