import { createRoute, z } from '@hono/zod-openapi';
import { listVouchers, useVoucher } from '../intake/vouchers';
import { createRouter } from './hono';
import { Id, InstantOut, jsonBody, problems } from './schemas';

export const Voucher = z
  .object({
    code: z.string(),
    amount: z.number().int().openapi({ description: 'minor units of currency' }),
    currency: z.string(),
    status: z.enum(['active', 'redeemed', 'void', 'expired']),
    expiresAt: InstantOut,
    referralId: z.string().openapi({ format: 'uuid' }),
    redeemedAt: InstantOut.nullable(),
    orderId: z.string().nullable(),
  })
  .openapi('Voucher');

const VoucherRedemption = Voucher.extend({ redemptionKey: z.string(), duplicate: z.boolean() }).openapi(
  'VoucherRedemption',
);

const VoucherCode = z
  .string()
  .regex(/^[A-Z0-9]{8,16}$/, 'a voucher code is 8 to 16 characters A-Z, 0-9')
  .openapi({ param: { name: 'code', in: 'path' }, example: 'K7QX2M9PLR4T' });

export const customerVoucherRoutes = createRouter().openapi(
  createRoute({
    method: 'get',
    path: '/{id}/vouchers',
    operationId: 'listVouchers',
    tags: ['Vouchers'],
    summary: "A customer's vouchers, newest first",
    request: { params: z.object({ id: Id.openapi({ param: { name: 'id', in: 'path' }, example: 'cust-42' }) }) },
    responses: {
      200: { description: 'the vouchers', content: { 'application/json': { schema: z.array(Voucher) } } },
      ...problems(400, 401, 404, 500),
    },
  }),
  async (c) => c.json(await listVouchers(c.var.deps, c.req.valid('param').id), 200),
);

export const voucherRoutes = createRouter().openapi(
  createRoute({
    method: 'post',
    path: '/{code}/redemptions',
    operationId: 'redeemVoucher',
    tags: ['Vouchers'],
    summary: 'Use a voucher at checkout (single use)',
    description:
      'The same redemptionKey again answers 200 with duplicate: true; another key is 409 voucher_already_redeemed; a void or expired voucher is 409 voucher_not_active.',
    request: {
      params: z.object({ code: VoucherCode }),
      body: jsonBody(
        z.object({ redemptionKey: Id, orderId: Id.optional() }).strict().openapi('VoucherRedemptionRequest'),
      ),
    },
    responses: {
      201: { description: 'redeemed', content: { 'application/json': { schema: VoucherRedemption } } },
      200: {
        description: 'a repeat of this redemption',
        content: { 'application/json': { schema: VoucherRedemption } },
      },
      ...problems(400, 401, 404, 409, 413, 415, 500),
    },
  }),
  async (c) => {
    const result = await useVoucher(c.var.deps, { code: c.req.valid('param').code, ...c.req.valid('json') });
    return result.duplicate ? c.json(result, 200) : c.json(result, 201);
  },
);
