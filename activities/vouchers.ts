import type { DB } from '../db/connection';
import { issueVoucher, voidVoucherOfReferral } from '../db/vouchers';

/** The referee's voucher as a referral's workflow issues and voids it; both are idempotent by the referral. */
export function createVoucherActivities({ db }: { db: DB }) {
  return {
    async issueRefereeVoucher(request: {
      referralId: string;
      customerId: string;
      amount: number;
      currency: string;
      issuedAt: string;
      expiresAt: string;
    }): Promise<{ code: string; expiresAt: string }> {
      const { voucher } = await issueVoucher(db, {
        ...request,
        issuedAt: new Date(request.issuedAt),
        expiresAt: new Date(request.expiresAt),
      });
      return { code: voucher.code, expiresAt: voucher.expires_at.toISOString() };
    },

    async voidRefereeVoucher(request: {
      referralId: string;
      reason: string;
      at: string;
    }): Promise<{ status: string | null }> {
      const voucher = await voidVoucherOfReferral(db, { ...request, at: new Date(request.at) });
      return { status: voucher?.status ?? null };
    },
  };
}

export type VoucherActivities = ReturnType<typeof createVoucherActivities>;
