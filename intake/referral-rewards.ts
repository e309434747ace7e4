import { findVoucherOfReferral } from '../db/vouchers';
import type { IntakeDependencies } from './deps';
import { lotView, type LotView } from './points';
import { voucherView, type VoucherView } from './vouchers';

/** What a referral has paid so far: each null until issued (the voucher at registration, the lots once credited). */
export interface ReferralRewards {
  voucher: VoucherView | null;
  referrerPoints: LotView | null;
  milestone: LotView | null;
}

export async function readRewards(deps: IntakeDependencies, referralId: string): Promise<ReferralRewards> {
  const [voucher, lots] = await Promise.all([
    findVoucherOfReferral(deps.db, referralId),
    deps.db
      .selectFrom('point_lots')
      .selectAll()
      .where('referral_id', '=', referralId)
      .where('source_kind', 'in', ['referral', 'milestone'])
      .execute(),
  ]);
  const lot = (kind: 'referral' | 'milestone') => {
    const found = lots.find((l) => l.source_kind === kind);
    return found ? lotView(found) : null;
  };
  return {
    voucher: voucher ? voucherView(voucher, deps.clock()) : null,
    referrerPoints: lot('referral'),
    milestone: lot('milestone'),
  };
}
