import { createRoute, z } from '@hono/zod-openapi';
import { handleOrder } from '../intake/order-delivery';
import { handleSignup } from '../intake/signup-registration';
import { createRouter } from './hono';
import { Problem } from './problems';
import { Deadlines } from './referral-view';
import {
  Context,
  Currency,
  Email,
  Id,
  Instant,
  INSTANT_RULE,
  InstantOut,
  jsonBody,
  MinorUnits,
  notInFuture,
  OrderStatusSchema,
  problems,
  ReferralCodeString,
  ReferralId,
  ReferralStatusSchema,
  Text,
} from './schemas';

const SignupBody = z
  .object({
    eventId: Id,
    customerId: Id,
    code: ReferralCodeString.optional(),
    referralId: ReferralId.optional(),
    email: Email.optional(),
    phone: Text(3, 40).optional(),
    occurredAt: Instant.optional().openapi({
      description: `the registration instant, ${INSTANT_RULE}; defaults to receipt; more than 5 minutes ahead of the server clock is refused (422)`,
    }),
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
    occurredAt: Instant.openapi({
      description: `when the order reached this status, ${INSTANT_RULE}; more than 5 minutes ahead of the server clock is refused (422)`,
    }),
  })
  .strict()
  .openapi('OrderEvent');

const NotReferred = z
  .object({
    referred: z.literal(false),
    customerId: z.string(),
    duplicate: z
      .boolean()
      .openapi({ description: 'true when this eventId was seen before: the body is the first answer' }),
  })
  .openapi('SignupNotReferred', {
    description: 'the signup carried no code and no referral: the customer is kept, nothing else',
  });

const Registered = z
  .object({
    referred: z.literal(true),
    referralId: z.string(),
    status: ReferralStatusSchema,
    programId: z.string(),
    programVersion: z.number().int(),
    code: z.string(),
    referrerId: z.string(),
    refereeId: z.string().nullable(),
    registeredAt: InstantOut.nullable(),
    deadlines: Deadlines,
    duplicate: z
      .boolean()
      .openapi({ description: 'true when this eventId was seen before: the body is the first answer' }),
  })
  .openapi('SignupRegistered', { description: 'the referral the signup registered' });

const SignupAnswer = z.union([Registered, NotReferred]).openapi('SignupResult');

const OrderAccepted = z.object({ eventId: z.string(), duplicate: z.boolean() }).openapi('OrderAccepted');

/**
 * A business instant may not lie ahead of our clock by more than the tolerance. Well-formed but refused by a rule
 * that depends on the moment it is received, so 422, not 400: the schema cannot say "now".
 */
const refuseFuture = (occurredAt: string | undefined, now: Date): void => {
  if (occurredAt && !notInFuture(occurredAt, now)) {
    throw new Problem(422, 'validation_failed', 'occurredAt is more than 5 minutes in the future', [
      { path: 'occurredAt', message: 'more than 5 minutes in the future' },
    ]);
  }
};

export const eventRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'post',
      path: '/signups',
      operationId: 'reportSignup',
      tags: ['Events'],
      summary: 'Report a signup: registers the referral it belongs to, or creates one',
      request: { body: jsonBody(SignupBody) },
      responses: {
        201: { description: 'registered', content: { 'application/json': { schema: SignupAnswer } } },
        200: {
          description: 'no code, or a replay of an event already applied',
          content: { 'application/json': { schema: SignupAnswer } },
        },
        ...problems(400, 401, 404, 409, 413, 415, 422, 500, 503),
      },
    }),
    async (c) => {
      const { deps } = c.var;
      const body = c.req.valid('json');
      refuseFuture(body.occurredAt, deps.clock());
      const outcome = await handleSignup(deps, body);
      const result = { ...outcome.body, duplicate: outcome.duplicate };
      return outcome.registered ? c.json(result, 201) : c.json(result, 200);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/orders',
      operationId: 'reportOrder',
      tags: ['Events'],
      summary: "Report an order's status change (placed, completed, cancelled, refunded)",
      request: { body: jsonBody(OrderBody) },
      responses: {
        202: {
          description: 'kept and being applied; a replayed eventId is acknowledged with duplicate: true',
          content: { 'application/json': { schema: OrderAccepted } },
        },
        ...problems(400, 401, 409, 413, 415, 422, 500, 503),
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
