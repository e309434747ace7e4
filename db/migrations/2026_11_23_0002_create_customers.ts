import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('customers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email_normalized', 'text')
    .addColumn('phone_normalized', 'text')
    .addColumn('referred_by_referral_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('customers_email_idx').on('customers').column('email_normalized').execute();
  await db.schema.createIndex('customers_phone_idx').on('customers').column('phone_normalized').execute();

  await db.schema
    .createTable('referral_codes')
    .addColumn('code', 'text', (c) => c.primaryKey().check(sql`code ~ '^[A-Z0-9]{6,10}$'`))
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('program_id', 'text', (c) => c.notNull().references('programs.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('referral_codes_customer_program_uq', ['customer_id', 'program_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('referral_codes').execute();
  await db.schema.dropTable('customers').execute();
}
