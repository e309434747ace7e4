import { sql, type Kysely } from 'kysely';

/**
 * Indexes for the request-path lookups that had none and read their whole table on every call: a referee's
 * registration taking its orders from the inbox, a coded signup finding its pending claim, and a referral read finding
 * the lots it paid. test/db/query-plans.test.ts explains each as the code sends it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  // The orders a registration already took for its referral: a retry after a lost reply must get them again. The
  // undelivered ones come from inbox_events_undelivered_idx; with this, both halves of that lookup are indexed.
  await db.schema
    .createIndex('inbox_events_order_referral_idx')
    .on('inbox_events')
    .column('referral_id')
    .where(sql.ref('kind'), '=', 'order')
    .where('referral_id', 'is not', null)
    .execute();
  // A signup completes the pending claim made under its code for its e-mail or its phone. Only pending claims, so the
  // index stays the size of the claims still open, not of every referral ever made.
  await db.schema
    .createIndex('referrals_pending_email_idx')
    .on('referrals')
    .columns(['code', 'invitee_email'])
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  await db.schema
    .createIndex('referrals_pending_phone_idx')
    .on('referrals')
    .columns(['code', 'invitee_phone'])
    .where(sql.ref('status'), '=', 'pending')
    .execute();
  // A referral's reads show the referrer's and the milestone's lots; adjustments belong to no referral.
  await db.schema
    .createIndex('point_lots_referral_idx')
    .on('point_lots')
    .column('referral_id')
    .where('referral_id', 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('point_lots_referral_idx').execute();
  await db.schema.dropIndex('referrals_pending_phone_idx').execute();
  await db.schema.dropIndex('referrals_pending_email_idx').execute();
  await db.schema.dropIndex('inbox_events_order_referral_idx').execute();
}
