import { findCustomer } from '../db/customers';
import { findCustomerPoints } from '../db/ledger';
import { findReferralsOfCustomer } from '../db/referrals';
import type { LedgerEntry } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { lotView, type LotView } from './points';
import { referralViewFromRow, type ReferralView } from './referral-view';

export interface LedgerEntryView {
  entryId: string;
  at: string;
  kind: LedgerEntry['kind'];
  points: number;
  redemptionId: string | null;
  referralId: string | null;
  actor: string | null;
  reason: string | null;
}

export interface AdminCustomerView {
  customerId: string;
  email: string | null;
  phone: string | null;
  referredByReferralId: string | null;
  createdAt: string;
  balance: number;
  lots: Array<LotView & { entries: LedgerEntryView[] }>;
  referrals: ReferralView[];
}

const REFERRALS_SHOWN = 200;

const entryView = (e: LedgerEntry): LedgerEntryView => ({
  entryId: e.id,
  at: e.at.toISOString(),
  kind: e.kind,
  points: e.points,
  redemptionId: e.redemption_id,
  referralId: e.referral_id,
  actor: e.actor,
  reason: e.reason,
});

/**
 * Everything an admin needs to answer "why does this customer have these points?" in one read: each lot with every
 * ledger entry against it, and the referrals they sent or came through (the newest 200).
 */
export async function readCustomerForAdmin(deps: IntakeDependencies, customerId: string): Promise<AdminCustomerView> {
  const [customer, points, referrals] = await Promise.all([
    findCustomer(deps.db, customerId),
    // the balance, the lots and their entries from one moment: they add up
    findCustomerPoints(deps.db, customerId, { withEntries: true }),
    findReferralsOfCustomer(deps.db, customerId, REFERRALS_SHOWN),
  ]);
  if (!customer || !points) throw new IntakeError('not_found', `no customer ${customerId}`);
  return {
    customerId,
    email: customer.email_normalized,
    phone: customer.phone_normalized,
    referredByReferralId: customer.referred_by_referral_id,
    createdAt: customer.created_at.toISOString(),
    balance: points.balance,
    lots: points.lots.map((lot) => ({
      ...lotView(lot),
      entries: points.entries.filter((e) => e.lot_id === lot.id).map(entryView),
    })),
    referrals: referrals.map(referralViewFromRow),
  };
}
