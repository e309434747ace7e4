import { sql, type Kysely } from 'kysely';

/**
 * Where customers were seen from, for the fraud flags: the IPs and device ids the commerce backend sends with a
 * customer's own requests (a referrer asking for a code), one row per value, the first sighting kept. No foreign key
 * to customers: a context may be kept before the customer's row is written, and erasure removes both by customer id.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('customer_contexts')
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('ip','device')`))
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull())
    // SAME_IP asks "did this customer use this IP?": the key answers it.
    .addPrimaryKeyConstraint('customer_contexts_pk', ['customer_id', 'kind', 'value'])
    .execute();
  // DEVICE_REUSE asks "did anyone else use this device?": by value, the customer read from the index alone.
  await db.schema
    .createIndex('customer_contexts_value_idx')
    .on('customer_contexts')
    .columns(['kind', 'value', 'customer_id'])
    .execute();
  // DEVICE_REUSE on the referrals: a device that came with another referral's claim. Most referrals carry none, and
  // those are never looked up, so the index holds only the ones that do. SAME_IP reads a referral's IP through its
  // referee instead (referee_id's unique index), so no index on ip is needed.
  await db.schema
    .createIndex('referrals_device_idx')
    .on('referrals')
    .column('device_id')
    .where('device_id', 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_device_idx').execute();
  await db.schema.dropTable('customer_contexts').execute();
}
