import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { checkLedger } from '../../db/ledger';
import { issueVoucher, voidVoucherOfReferral } from '../../db/vouchers';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { appOver } from '../support/app';

/** Vouchers over HTTP on a real database; a referral's workflow issues and voids them, here the test does. */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;
let now = new Date('2026-11-25T12:00:00Z');
let programId: string;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db, { clock: () => now }));
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Vouchers', currency: 'INR' })).body.id;
  await api.post('/v1/customers/vic/referral-code', KEYS.commerce, { programId });
});
afterAll(() => drop());

/** A referral in the projection (what the ledger check joins on) and its referee's voucher. */
async function referralWithVoucher(refereeId: string, status: 'registered' | 'expired' = 'registered') {
  const referralId = randomUUID();
  await db
    .insertInto('customers')
    .values({ id: refereeId, email_normalized: null, phone_normalized: null, referred_by_referral_id: referralId })
    .onConflict((oc) => oc.doNothing())
    .execute();
  await db
    .insertInto('referrals')
    .values({
      id: referralId,
      program_id: programId,
      program_version: 1,
      code: 'ABCDEFGH',
      referrer_id: 'vic',
      referee_id: refereeId,
      status,
      channel: null,
      invitee_email: null,
      invitee_phone: null,
      ip: null,
      device_id: null,
      created_at: now,
      registered_at: now,
      qualified_at: null,
      completed_at: null,
      ended_at: null,
      end_reason: null,
      expires_at: null,
      qualify_by: null,
      hold_until: null,
      counted_orders: 0,
      counted_spend: 0,
      projection_seq: 1,
      updated_at: now,
    })
    .execute();
  const { voucher } = await issueVoucher(db, {
    referralId,
    customerId: refereeId,
    amount: 5000,
    currency: 'INR',
    issuedAt: now,
    expiresAt: new Date('2026-12-25T12:00:00Z'),
  });
  return { referralId, code: voucher.code };
}

describe('vouchers', () => {
  it('given a referee with a voucher, when it is read and used, then it is single use and idempotent by its redemption key', async () => {
    const { referralId, code } = await referralWithVoucher('wes');
    expect(
      (
        await issueVoucher(db, {
          referralId,
          customerId: 'wes',
          amount: 5000,
          currency: 'INR',
          issuedAt: now,
          expiresAt: now,
        })
      ).created,
    ).toBe(false);
    expect(await api.get('/v1/customers/wes/vouchers', KEYS.commerce)).toMatchObject({
      status: 200,
      body: [
        {
          code,
          amount: 5000,
          currency: 'INR',
          status: 'active',
          expiresAt: '2026-12-25T12:00:00.000Z',
          referralId,
          redeemedAt: null,
        },
      ],
    });
    const used = await api.post(`/v1/vouchers/${code}/redemptions`, KEYS.commerce, {
      redemptionKey: 'checkout-1',
      orderId: 'O-1',
    });
    expect(used).toMatchObject({
      status: 201,
      body: { code, status: 'redeemed', redemptionKey: 'checkout-1', orderId: 'O-1', duplicate: false },
    });
    expect(
      await api.post(`/v1/vouchers/${code}/redemptions`, KEYS.commerce, {
        redemptionKey: 'checkout-1',
        orderId: 'O-1',
      }),
    ).toMatchObject({ status: 200, body: { ...used.body, duplicate: true } });
    expect(
      await api.post(`/v1/vouchers/${code}/redemptions`, KEYS.commerce, { redemptionKey: 'checkout-2' }),
    ).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      body: { code: 'voucher_already_redeemed' },
    });
    // a used voucher stays used when its referral fails later
    await voidVoucherOfReferral(db, { referralId, reason: 'referral expired', at: now });
    expect((await api.get('/v1/customers/wes/vouchers', KEYS.commerce)).body[0].status).toBe('redeemed');
  });

  it('given a void or an expired voucher, when it is used, then 409 voucher_not_active and nothing changes', async () => {
    const voided = await referralWithVoucher('xia', 'expired');
    await voidVoucherOfReferral(db, { referralId: voided.referralId, reason: 'referral expired', at: now });
    expect(
      await api.post(`/v1/vouchers/${voided.code}/redemptions`, KEYS.commerce, { redemptionKey: 'k' }),
    ).toMatchObject({ status: 409, body: { code: 'voucher_not_active' } });

    const lapsing = await referralWithVoucher('yan');
    now = new Date('2026-12-25T12:00:00Z');
    expect((await api.get('/v1/customers/yan/vouchers', KEYS.commerce)).body[0].status).toBe('expired');
    expect(
      await api.post(`/v1/vouchers/${lapsing.code}/redemptions`, KEYS.commerce, { redemptionKey: 'k' }),
    ).toMatchObject({ status: 409, body: { code: 'voucher_not_active' } });
    now = new Date('2026-11-25T12:00:00Z');
    expect(
      (await db.selectFrom('vouchers').select('status').where('code', '=', lapsing.code).executeTakeFirstOrThrow())
        .status,
    ).toBe('active');
  });

  it('given unknown codes and customers and bad input, then 404 or 400 problem+json', async () => {
    expect(await api.get('/v1/customers/ghost/vouchers', KEYS.commerce)).toMatchObject({
      status: 404,
      body: { code: 'not_found' },
    });
    expect(await api.post('/v1/vouchers/NOSUCHCODE1/redemptions', KEYS.commerce, { redemptionKey: 'k' })).toMatchObject(
      { status: 404, body: { code: 'not_found' } },
    );
    expect(await api.post('/v1/vouchers/bad-code/redemptions', KEYS.commerce, { redemptionKey: 'k' })).toMatchObject({
      status: 400,
      body: { code: 'validation_failed' },
    });
    expect(await api.post('/v1/vouchers/NOSUCHCODE1/redemptions', KEYS.commerce, {})).toMatchObject({
      status: 400,
      body: { code: 'validation_failed' },
    });
  });

  it('given a failed referral whose voucher is still active, when the ledger is checked, then the voucher is named', async () => {
    const { code, referralId } = await referralWithVoucher('zed', 'expired');
    expect(await checkLedger(db)).toEqual([
      {
        rule: 'the voucher of a failed referral is void or used',
        subject: `voucher ${code}`,
        detail: `active while referral ${referralId} is expired`,
      },
    ]);
    await voidVoucherOfReferral(db, { referralId, reason: 'referral expired', at: now });
    expect(await checkLedger(db)).toEqual([]);
  });
});
