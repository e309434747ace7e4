import { sql, type Kysely } from 'kysely';

/** The referee's single-use discount voucher: one per referral, redeemed once at checkout, voided when the referral fails. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('vouchers')
    .addColumn('code', 'text', (c) => c.primaryKey().check(sql`code ~ '^[A-Z0-9]{8,16}$'`))
    // one voucher per referral, whatever retries issue it
    .addColumn('referral_id', 'uuid', (c) => c.notNull().unique())
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('amount', 'bigint', (c) => c.notNull().check(sql`amount > 0`))
    .addColumn('currency', 'char(3)', (c) => c.notNull())
    .addColumn('issued_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active','redeemed','void')`))
    .addColumn('redemption_key', 'text')
    .addColumn('order_id', 'text')
    .addColumn('redeemed_at', 'timestamptz')
    .addColumn('voided_at', 'timestamptz')
    .addColumn('void_reason', 'text')
    .addCheckConstraint(
      'vouchers_redeemed_ck',
      sql`(status = 'redeemed') = (redemption_key is not null and redeemed_at is not null)`,
    )
    .execute();
  await db.schema.createIndex('vouchers_customer_idx').on('vouchers').columns(['customer_id', 'issued_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('vouchers').execute();
}
