import { sql, type Kysely } from 'kysely';

/**
 * Admin actions on referrals by their requestId: which action on which referral with what body (to refuse the id's
 * reuse for another request), and the answer it got (to repeat it verbatim, without asking the workflow again).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('admin_requests')
    .addColumn('request_id', 'text', (c) => c.primaryKey())
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('approve','reject','cancel','extend')`))
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('body_hash', 'text', (c) => c.notNull())
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('admin_requests').execute();
}
