import { sql, type Kysely } from 'kysely';

/**
 * Claims made with an Idempotency-Key: the key's body (to refuse its reuse for another claim) and the answer it got
 * (to repeat it verbatim).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('claim_requests')
    .addColumn('idempotency_key', 'text', (c) => c.primaryKey())
    .addColumn('payload_hash', 'text', (c) => c.notNull())
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('response', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('claim_requests').execute();
}
