import { createRoute, z } from '@hono/zod-openapi';
import { readPoints, redeem, reverse } from '../intake/points';
import { createRouter } from './hono';
import { Id, InstantOut, jsonBody, problems } from './schemas';

/** Points fit a lot's integer column with room to spare; no programme credits more in one go. */
export const MAX_POINTS = 1_000_000_000;

export const Points = z
  .number()
  .int()
  .min(1)
  .max(MAX_POINTS)
  .openapi({ example: 500, description: `whole points, 1 to ${MAX_POINTS}` });

const CustomerParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' }, example: 'cust-42' }) });
const RedemptionParams = CustomerParams.extend({
  redemptionId: Id.openapi({ param: { name: 'redemptionId', in: 'path' }, example: 'order-7781' }),
});

export const Lot = z
  .object({
    lotId: z.string().openapi({ format: 'uuid' }),
    points: z.number().int(),
    remaining: z.number().int(),
    creditedAt: InstantOut,
    expiresAt: InstantOut,
    expired: z.boolean(),
    source: z.object({ kind: z.enum(['referral', 'milestone', 'adjustment']), referralId: z.string().nullable() }),
  })
  .openapi('PointLot');

const Taken = z.array(z.object({ lotId: z.string().openapi({ format: 'uuid' }), points: z.number().int() }));

const PointsView = z
  .object({
    customerId: z.string(),
    balance: z.number().int(),
    lots: z.array(Lot),
    expiringWithin30Days: z.number().int(),
    nextExpiry: z.object({ at: InstantOut, points: z.number().int() }).nullable(),
  })
  .openapi('Points');

const RedemptionBody = z.object({ redemptionId: Id, points: Points }).strict().openapi('RedemptionRequest');

const Redemption = z
  .object({
    redemptionId: z.string(),
    points: z.number().int(),
    balance: z.number().int(),
    takenFrom: Taken,
    duplicate: z.boolean(),
    reversed: z.boolean().optional().openapi({
      description:
        'on a duplicate only, when the redemption has been reversed: its points were put back and nothing is taken now',
    }),
  })
  .openapi('Redemption');

const Reversal = z
  .object({ redemptionId: z.string(), reversed: z.literal(true), balance: z.number().int() })
  .openapi('RedemptionReversal');

export const pointRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}/points',
      operationId: 'getPoints',
      tags: ['Points'],
      summary: "A customer's points: balance, lots and what expires next",
      request: { params: CustomerParams },
      responses: {
        200: { description: 'the points', content: { 'application/json': { schema: PointsView } } },
        ...problems(400, 401, 404, 500),
      },
    }),
    async (c) => c.json(await readPoints(c.var.deps, c.req.valid('param').id), 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/points/redemptions',
      operationId: 'redeemPoints',
      tags: ['Points'],
      summary: 'Spend points at checkout, from the soonest-expiring lots first',
      description:
        'Idempotent by redemptionId: the same body again answers 200 with duplicate: true (and reversed: true once the redemption has been reversed: nothing is taken again); the same redemptionId with other points is 409 idempotency_conflict. A balance short of the points is 422 insufficient_points and takes nothing.',
      request: { params: CustomerParams, body: jsonBody(RedemptionBody) },
      responses: {
        201: { description: 'redeemed', content: { 'application/json': { schema: Redemption } } },
        200: {
          description: 'a repeat of a redemption already made',
          content: { 'application/json': { schema: Redemption } },
        },
        ...problems(400, 401, 404, 409, 413, 415, 422, 500),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const result = await redeem(c.var.deps, { customerId: id, ...c.req.valid('json') });
      return result.duplicate ? c.json(result, 200) : c.json(result, 201);
    },
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/points/redemptions/{redemptionId}/reversal',
      operationId: 'reverseRedemption',
      tags: ['Points'],
      summary: 'Give a redemption back (an order cancelled after checkout); repeatable',
      description:
        'Points go back to the lots they came from; those going back to a lot that has expired meanwhile expire at once.',
      request: { params: RedemptionParams },
      responses: {
        200: { description: 'reversed', content: { 'application/json': { schema: Reversal } } },
        ...problems(400, 401, 404, 413, 500),
      },
    }),
    async (c) => {
      const { id, redemptionId } = c.req.valid('param');
      return c.json(await reverse(c.var.deps, { customerId: id, redemptionId }), 200);
    },
  );
