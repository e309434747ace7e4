import { sql } from 'kysely';
import type { DB } from './connection';
import { normaliseEmail, normalisePhone } from './contact';
import type { ReferralRow, TimelineRow } from './schema';

export const findReferral = (db: DB, id: string): Promise<ReferralRow | undefined> =>
  db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirst();

export const findTimeline = (db: DB, referralId: string): Promise<TimelineRow[]> =>
  db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', referralId).orderBy('seq').execute();

/**
 * The pending claim a signup completes: same code, the invitee the claim named (by e-mail or phone), and not yet
 * expired when the signup happened (`at`, business time). A signup stamped a little before the claim's receipt still
 * matches it: the two clocks are different systems'.
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
      eb.or([...(email ? [eb('invitee_email', '=', email)] : []), ...(phone ? [eb('invitee_phone', '=', phone)] : [])]),
    )
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
}

/**
 * A fact that reached a referral after it ended, appended to its timeline so it is seen, not dropped; once per event.
 * The workflow no longer writes once it has ended, so the next seq is free; two late facts racing for it retry.
 */
export async function appendLateFact(
  db: DB,
  referralId: string,
  fact: { at: Date; kind: string; eventId: string; detail: Record<string, unknown> },
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const referral = await db.selectFrom('referrals').select('status').where('id', '=', referralId).executeTakeFirst();
    if (!referral) return;
    const already = await db
      .selectFrom('referral_timeline')
      .select('seq')
      .where('referral_id', '=', referralId)
      .where('kind', '=', fact.kind)
      .where(sql<string>`detail->>'eventId'`, '=', fact.eventId)
      .executeTakeFirst();
    if (already) return;
    const last = await db
      .selectFrom('referral_timeline')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('referral_id', '=', referralId)
      .executeTakeFirst();
    const inserted = await db
      .insertInto('referral_timeline')
      .values({
        referral_id: referralId,
        seq: (last?.seq ?? 0) + 1,
        at: fact.at,
        kind: fact.kind,
        status: referral.status,
        detail: JSON.stringify({ eventId: fact.eventId, ...fact.detail }),
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (inserted.numInsertedOrUpdatedRows === 1n) return;
  }
  throw new Error(`could not append a late fact to referral ${referralId}`);
}

/** Referrals a customer took part in, as referrer or referee, newest first. */
export const findReferralsOfCustomer = (db: DB, customerId: string, limit: number): Promise<ReferralRow[]> =>
  db
    .selectFrom('referrals')
    .selectAll()
    .where((eb) => eb.or([eb('referrer_id', '=', customerId), eb('referee_id', '=', customerId)]))
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .execute();
