import { sql, type Kysely } from 'kysely';

/**
 * When each early count was written. Its `created_at` is the referral's creation instant, which for a signup by code
 * delivered late is its `occurredAt`, perhaps days before the count: the sweep of leaked counts
 * (workflows/inbox-retention.ts) must judge a count's age by when it was written.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('referrals_counted_early')
    .addColumn('counted_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals_counted_early').dropColumn('counted_at').execute();
}
