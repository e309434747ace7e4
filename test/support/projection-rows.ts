import { randomUUID } from 'node:crypto';
import type { DB } from '../../db/connection';
import type { NewReferralRow } from '../../db/schema';

/**
 * A referral row written straight into the projection, as the workflow's projection would leave it: a registered
 * referral of `vic`'s created now, unless `row` says otherwise. No customer is reserved for its referee.
 */
export async function insertReferralRow(
  db: DB,
  row: Partial<NewReferralRow> & Pick<NewReferralRow, 'program_id'>,
): Promise<NewReferralRow & { id: string }> {
  const now = new Date();
  const values = {
    id: randomUUID(),
    program_version: 1,
    code: 'ORDERS01',
    referrer_id: 'vic',
    referee_id: null,
    status: 'registered' as const,
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
    closed_at: null,
    expires_at: null,
    qualify_by: null,
    hold_until: null,
    counted_orders: 0,
    counted_spend: 0,
    projection_seq: 1,
    updated_at: now,
    ...row,
  };
  await db.insertInto('referrals').values(values).execute();
  return values;
}

/** A referee with a referral in the projection, closed (its workflow finished) or not. */
export async function refereeWithReferral(
  db: DB,
  programId: string,
  closedAt: Date | null,
): Promise<{ customerId: string; referralId: string }> {
  const customerId = `c-${randomUUID()}`;
  const referralId = randomUUID();
  await db
    .insertInto('customers')
    .values({ id: customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: referralId })
    .execute();
  await insertReferralRow(db, {
    id: referralId,
    program_id: programId,
    referee_id: customerId,
    status: closedAt ? 'expired' : 'registered',
    ended_at: closedAt,
    end_reason: closedAt ? 'qualification_window_closed' : null,
    closed_at: closedAt,
  });
  return { customerId, referralId };
}
