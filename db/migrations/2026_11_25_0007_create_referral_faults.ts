import { sql, type Kysely } from 'kysely';

/**
 * Referrals stopped by an activity failure that retrying cannot fix (a data error, a constraint that will never hold,
 * a missing column): a durable record an admin can list, instead of a workflow retrying for ever.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('referral_faults')
    // the workflow's idempotency key for this fault (referral, step): a retried record writes nothing twice
    .addColumn('id', 'text', (c) => c.primaryKey())
    // no foreign key: the referral's own row may be what could not be written
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('activity', 'text', (c) => c.notNull())
    .addColumn('failure_type', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('detail', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('referral_faults_created_idx')
    .on('referral_faults')
    .columns(['created_at', 'id'])
    .execute();
  await db.schema.createIndex('referral_faults_referral_idx').on('referral_faults').column('referral_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('referral_faults').execute();
}
