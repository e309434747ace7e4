import { randomUUID } from 'node:crypto';
import type { DB } from '../../db/connection';

/** A referee with a referral in the projection, closed (its workflow finished) or not. */
export async function refereeWithReferral(
  db: DB,
  programId: string,
  closedAt: Date | null,
): Promise<{ customerId: string; referralId: string }> {
  const customerId = `c-${randomUUID()}`;
  const referralId = randomUUID();
  const now = new Date();
  await db
    .insertInto('customers')
    .values({ id: customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: referralId })
    .execute();
  await db
    .insertInto('referrals')
    .values({
      id: referralId,
      program_id: programId,
      program_version: 1,
      code: 'ORDERS01',
      referrer_id: 'vic',
      referee_id: customerId,
      status: closedAt ? 'expired' : 'registered',
      channel: null,
      invitee_email: null,
      invitee_phone: null,
      ip: null,
      device_id: null,
      created_at: now,
      registered_at: now,
      qualified_at: null,
      completed_at: null,
      ended_at: closedAt,
      end_reason: closedAt ? 'qualification_window_closed' : null,
      closed_at: closedAt,
      expires_at: null,
      qualify_by: null,
      hold_until: null,
      counted_orders: 0,
      counted_spend: 0,
      projection_seq: 1,
      updated_at: now,
    })
    .execute();
  return { customerId, referralId };
}
