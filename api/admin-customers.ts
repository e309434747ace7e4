import { createRoute, z } from '@hono/zod-openapi';
import { readCustomerForAdmin } from '../intake/customer-admin';
import { adjust } from '../intake/points';
import { createRouter } from './hono';
import { Lot, MAX_POINTS } from './points';
import { ReferralView } from './referral-view';
import { Id, InstantOut, jsonBody, PointValidity, problems, Text } from './schemas';

const CustomerParams = z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' }, example: 'cust-42' }) });

const AdjustmentBody = z
  .object({
    adjustmentId: Id,
    points: z
      .number()
      .int()
      .min(-MAX_POINTS)
      .max(MAX_POINTS)
      .refine((points) => points !== 0, { message: 'must not be zero' })
      .openapi({
        example: 250,
        description: 'a credit (positive: a new lot) or a debit (negative: taken from the soonest-expiring lots)',
        not: { const: 0 },
      }),
    reason: Text(1, 500),
    validity: PointValidity.optional().openapi({
      example: '6 months',
      description: 'how long a credit stays valid: calendar months (counted in UTC) or a duration; 6 months by default',
    }),
  })
  .strict()
  .openapi('PointAdjustmentRequest');

const Adjustment = z
  .object({
    adjustmentId: z.string(),
    points: z.number().int(),
    balance: z.number().int(),
    // A union, not .nullable(): a nullable registered schema comes out as allOf [$ref, {type: [object, null]}], which
    // refuses null (the $ref alone requires an object).
    lot: z.union([Lot, z.null()]).openapi({ description: 'the lot a credit made; null for a debit' }),
    takenFrom: z.array(z.object({ lotId: z.string().openapi({ format: 'uuid' }), points: z.number().int() })),
    duplicate: z.boolean(),
  })
  .openapi('PointAdjustment');

const LedgerEntry = z
  .object({
    entryId: z.string(),
    at: InstantOut,
    kind: z.enum(['credit', 'redeem', 'reverse', 'expire', 'void', 'adjust']),
    points: z.number().int().openapi({ description: 'signed: what the entry added to or took from the balance' }),
    redemptionId: z.string().nullable(),
    referralId: z.string().nullable(),
    actor: z.string().nullable(),
    reason: z.string().nullable(),
  })
  .openapi('LedgerEntry');

const AdminCustomer = z
  .object({
    customerId: z.string(),
    email: z.string().nullable(),
    phone: z.string().nullable(),
    referredByReferralId: z.string().nullable(),
    createdAt: InstantOut,
    balance: z.number().int(),
    lots: z.array(Lot.extend({ entries: z.array(LedgerEntry) })),
    referrals: z.array(ReferralView),
  })
  .openapi('AdminCustomer');

export const adminCustomerRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      operationId: 'getCustomerForAdmin',
      tags: ['Admin'],
      summary: 'A customer with every lot and its ledger entries, and the referrals they sent or came through',
      request: { params: CustomerParams },
      responses: {
        200: { description: 'the customer', content: { 'application/json': { schema: AdminCustomer } } },
        ...problems(400, 401, 403, 404, 500),
      },
    }),
    async (c) => c.json(await readCustomerForAdmin(c.var.deps, c.req.valid('param').id), 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{id}/points/adjustments',
      operationId: 'adjustPoints',
      tags: ['Admin'],
      summary: "Correct a customer's points (audited with the key name as actor)",
      description:
        'A credit is a new lot valid for `validity` (6 calendar months by default), whose expiry is its own durable timer; a debit takes from the soonest-expiring lots and is 422 insufficient_points beyond them. Idempotent by adjustmentId (the same body again answers 200 with duplicate: true; other points are 409 idempotency_conflict).',
      request: { params: CustomerParams, body: jsonBody(AdjustmentBody) },
      responses: {
        201: { description: 'booked', content: { 'application/json': { schema: Adjustment } } },
        200: {
          description: 'a repeat of an adjustment already booked',
          content: { 'application/json': { schema: Adjustment } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 415, 422, 500, 503),
      },
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const result = await adjust(c.var.deps, { customerId: id, ...c.req.valid('json'), actor: c.var.actor });
      return result.duplicate ? c.json(result, 200) : c.json(result, 201);
    },
  );
