import type { DB } from './connection';
import { normaliseEmail, normalisePhone } from './contact';
import type { ReferralRow, TimelineRow } from './schema';

export const findReferral = (db: DB, id: string): Promise<ReferralRow | undefined> =>
  db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirst();

export const findTimeline = (db: DB, referralId: string): Promise<TimelineRow[]> =>
  db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', referralId).orderBy('seq').execute();

/**
 * The pending claim a signup completes: same code, the invitee the claim named (by e-mail or phone), and not yet
 * expired when the signup happened (`at`, business time).
 */
export async function findPendingClaimFor(
  db: DB,
  code: string,
  invitee: { email?: string | undefined; phone?: string | undefined; at: Date },
): Promise<ReferralRow | undefined> {
  const email = normaliseEmail(invitee.email);
  const phone = normalisePhone(invitee.phone);
  if (!email && !phone) return undefined;
  return db
    .selectFrom('referrals')
    .selectAll()
    .where('code', '=', code)
    .where('status', '=', 'pending')
    .where('expires_at', '>=', invitee.at)
    .where((eb) =>
      eb.or([
        ...(email ? [eb('invitee_email', '=', email)] : []),
        ...(phone ? [eb('invitee_phone', '=', phone)] : []),
      ]),
    )
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
}
