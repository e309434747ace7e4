import { findCustomer } from '../db/customers';
import { findVouchersOfCustomer, redeemVoucher } from '../db/vouchers';
import type { Voucher } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';

export interface VoucherView {
  code: string;
  /** minor units of `currency` */
  amount: number;
  currency: string;
  /** `expired`: still unused when its validity ran out */
  status: 'active' | 'redeemed' | 'void' | 'expired';
  expiresAt: string;
  referralId: string;
  redeemedAt: string | null;
  orderId: string | null;
}

export const voucherView = (v: Voucher, now: Date): VoucherView => ({
  code: v.code,
  // Amounts are bounded at the edge (at most 10^12 minor units): exact as a JSON number.
  amount: Number(v.amount),
  currency: v.currency.trim(),
  status: v.status === 'active' && v.expires_at <= now ? 'expired' : v.status,
  expiresAt: v.expires_at.toISOString(),
  referralId: v.referral_id,
  redeemedAt: v.redeemed_at?.toISOString() ?? null,
  orderId: v.order_id,
});

/** A customer's vouchers, newest first. */
export async function listVouchers(deps: IntakeDependencies, customerId: string): Promise<VoucherView[]> {
  if (!(await findCustomer(deps.db, customerId))) throw new IntakeError('not_found', `no customer ${customerId}`);
  const now = deps.clock();
  return (await findVouchersOfCustomer(deps.db, customerId)).map((v) => voucherView(v, now));
}

/** Uses a voucher at checkout: once, idempotent by its redemption key. */
export async function useVoucher(
  deps: IntakeDependencies,
  request: { code: string; redemptionKey: string; orderId?: string | undefined },
): Promise<VoucherView & { redemptionKey: string; duplicate: boolean }> {
  const now = deps.clock();
  const outcome = await redeemVoucher(deps.db, {
    code: request.code,
    redemptionKey: request.redemptionKey,
    orderId: request.orderId ?? null,
    now,
  });
  switch (outcome.outcome) {
    case 'unknown':
      throw new IntakeError('not_found', `no voucher ${request.code}`);
    case 'already_redeemed':
      throw new IntakeError(
        'voucher_already_redeemed',
        `voucher ${request.code} was already used for another checkout`,
      );
    case 'not_active':
      throw new IntakeError('voucher_not_active', `voucher ${request.code} is ${outcome.why}`);
    case 'redeemed':
      deps.logger.info(
        { code: request.code, redemptionKey: request.redemptionKey, duplicate: outcome.duplicate },
        'voucher redeemed',
      );
      return {
        ...voucherView(outcome.voucher, now),
        redemptionKey: request.redemptionKey,
        duplicate: outcome.duplicate,
      };
  }
}
