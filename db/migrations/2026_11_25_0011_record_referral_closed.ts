import type { Kysely } from 'kysely';

/**
 * When the referral's workflow finished: from then on nothing can change it, so an order for its referee is settled
 * from the projection without a Temporal call, and reads need not replay its history through a query.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals').addColumn('closed_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals').dropColumn('closed_at').execute();
}
