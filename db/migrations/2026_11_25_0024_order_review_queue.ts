import { sql, type Kysely } from 'kysely';

/**
 * The review queue waits in the order reviews started, not in the order referrals were created: a claim made weeks
 * before its signup goes under review after one made yesterday and signed up at once. review_started_at is the instant
 * of the referral's review_started timeline entry, kept while it is under review; the queue pages on that instant and
 * the id, which nothing changes while a referral waits, through an index of the waiting ones only.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals').addColumn('review_started_at', 'timestamptz').execute();
  // Referrals already waiting: their review_started entry says when; one without it (none is expected) waits from its
  // registration, so none is left out of the queue's order.
  await sql`
    update referrals r
       set review_started_at = coalesce(
             (select max(t.at) from referral_timeline t where t.referral_id = r.id and t.kind = 'review_started'),
             r.registered_at, r.created_at)
     where r.status = 'under_review'`.execute(db);
  // A row whose writer did not know the column yet (a worker of the release before this, during a rolling deploy)
  // still has its place: it waits from its registration.
  await sql`
    create index referrals_review_queue_idx
        on referrals ((coalesce(review_started_at, registered_at, created_at)), id)
     where status = 'under_review'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_review_queue_idx').execute();
  await db.schema.alterTable('referrals').dropColumn('review_started_at').execute();
}
