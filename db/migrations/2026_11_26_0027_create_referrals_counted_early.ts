import { sql, type Kysely } from 'kysely';

/**
 * A referral counted toward its referrer's pace (HIGH_VELOCITY) before its workflow has written it to `referrals`:
 * a claim, or a signup by code, writes its row here under the referrer's velocity lock, in the transaction that
 * counts, and the lock is let go before its workflow is started. The projection's first write of the referral deletes
 * the row: from then on `referrals` counts it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('referrals_counted_early')
    .addColumn('referral_id', 'uuid', (c) => c.primaryKey())
    .addColumn('referrer_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('referrals_counted_early_referrer_idx')
    .on('referrals_counted_early')
    .columns(['referrer_id', 'created_at'])
    .execute();
  await sql`comment on table referrals_counted_early is 'referrals counted for HIGH_VELOCITY before their first projection write'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('referrals_counted_early').execute();
}
