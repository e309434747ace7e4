import type { Kysely } from 'kysely';

/**
 * Each completed referral counted once for its referrer, in the order they completed: `ordinal` is the referrer's
 * count including this one, so the tier in force at a completion is the tier of `ordinal - 1` completions, whatever
 * retries or replays ask again (keyed by the referral).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('referrer_completions')
    .addColumn('referral_id', 'uuid', (c) => c.primaryKey())
    .addColumn('referrer_id', 'text', (c) => c.notNull())
    .addColumn('ordinal', 'integer', (c) => c.notNull())
    .addColumn('completed_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('referrer_completions_ordinal_uq', ['referrer_id', 'ordinal'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('referrer_completions').execute();
}
