import { randomInt } from 'node:crypto';
import type { DB } from './connection';
import type { Voucher } from './schema';

// No 0/O or 1/I: voucher codes are typed at checkout from an e-mail or a screenshot.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 12;
const generateCode = (): string =>
  Array.from({ length: CODE_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/** Issues the referral's voucher, once: a retry finds the voucher the first attempt issued. */
export async function issueVoucher(
  db: DB,
  voucher: {
    referralId: string;
    customerId: string;
    amount: number;
    currency: string;
    issuedAt: Date;
    expiresAt: Date;
  },
): Promise<{ voucher: Voucher; created: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await db
      .selectFrom('vouchers')
      .selectAll()
      .where('referral_id', '=', voucher.referralId)
      .executeTakeFirst();
    if (existing) return { voucher: existing, created: false };
    const inserted = await db
      .insertInto('vouchers')
      .values({
        code: generateCode(),
        referral_id: voucher.referralId,
        customer_id: voucher.customerId,
        amount: voucher.amount,
        currency: voucher.currency,
        issued_at: voucher.issuedAt,
        expires_at: voucher.expiresAt,
        status: 'active',
        redemption_key: null,
        order_id: null,
        redeemed_at: null,
        voided_at: null,
        void_reason: null,
      })
      // the referral's voucher issued meanwhile, or (rarely) a code taken: look again
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { voucher: inserted, created: true };
  }
  throw new Error(`could not issue a voucher for referral ${voucher.referralId}`);
}

export const findVouchersOfCustomer = (db: DB, customerId: string): Promise<Voucher[]> =>
  db
    .selectFrom('vouchers')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('issued_at', 'desc')
    .orderBy('code')
    .execute();

export const findVoucherOfReferral = (db: DB, referralId: string): Promise<Voucher | undefined> =>
  db.selectFrom('vouchers').selectAll().where('referral_id', '=', referralId).executeTakeFirst();

export type VoucherRedemption =
  | { outcome: 'redeemed'; voucher: Voucher; duplicate: boolean }
  | { outcome: 'already_redeemed'; voucher: Voucher }
  | { outcome: 'not_active'; voucher: Voucher; why: 'void' | 'expired' }
  | { outcome: 'unknown' };

/** Uses the voucher at checkout, once; the same redemption key again answers the same result. */
export async function redeemVoucher(
  db: DB,
  request: { code: string; redemptionKey: string; orderId: string | null; now: Date },
): Promise<VoucherRedemption> {
  return db.transaction().execute(async (trx): Promise<VoucherRedemption> => {
    const voucher = await trx
      .selectFrom('vouchers')
      .selectAll()
      .where('code', '=', request.code)
      .forUpdate()
      .executeTakeFirst();
    if (!voucher) return { outcome: 'unknown' };
    if (voucher.status === 'redeemed') {
      return voucher.redemption_key === request.redemptionKey
        ? { outcome: 'redeemed', voucher, duplicate: true }
        : { outcome: 'already_redeemed', voucher };
    }
    if (voucher.status === 'void') return { outcome: 'not_active', voucher, why: 'void' };
    if (voucher.expires_at <= request.now) return { outcome: 'not_active', voucher, why: 'expired' };
    const redeemed = await trx
      .updateTable('vouchers')
      .set({
        status: 'redeemed',
        redemption_key: request.redemptionKey,
        order_id: request.orderId,
        redeemed_at: request.now,
      })
      .where('code', '=', request.code)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { outcome: 'redeemed', voucher: redeemed, duplicate: false };
  });
}

/** Voids the referral's voucher unless it was used: the referral failed (expired, cancelled, rejected). Idempotent. */
export async function voidVoucherOfReferral(
  db: DB,
  request: { referralId: string; reason: string; at: Date },
): Promise<Voucher | undefined> {
  await db
    .updateTable('vouchers')
    .set({ status: 'void', voided_at: request.at, void_reason: request.reason })
    .where('referral_id', '=', request.referralId)
    .where('status', '=', 'active')
    .execute();
  return findVoucherOfReferral(db, request.referralId);
}
