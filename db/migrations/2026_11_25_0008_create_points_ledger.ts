import { sql, type Kysely } from 'kysely';

/**
 * Points as lots, each with its own expiry, and an append-only ledger of every movement. A customer's balance is kept
 * on their row, changed in the same transaction as each entry, so it can be read at once and never goes negative; the
 * ledger check proves it equals the sum of the entries.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('customers')
    .addColumn('points_balance', 'bigint', (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`points_balance >= 0`),
    )
    .execute();

  await db.schema
    .createTable('point_lots')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('points', 'integer', (c) => c.notNull().check(sql`points > 0`))
    .addColumn('remaining', 'integer', (c) => c.notNull())
    .addColumn('credited_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expired_at', 'timestamptz')
    .addColumn('source_kind', 'text', (c) =>
      c.notNull().check(sql`source_kind in ('referral','milestone','adjustment')`),
    )
    .addColumn('referral_id', 'uuid')
    .addColumn('program_id', 'text')
    .addColumn('program_version', 'integer')
    .addColumn('workflow_run_id', 'text')
    .addColumn('qualifying_order_ids', 'jsonb')
    .addColumn('actor', 'text')
    // what credited it (`referral:<id>`, `milestone:<id>`, `adjustment:<customer>:<id>`): a retried credit finds it
    .addColumn('credit_key', 'text', (c) => c.notNull().unique())
    .addCheckConstraint('point_lots_remaining_ck', sql`remaining >= 0 and remaining <= points`)
    .execute();
  // Redemptions take from the soonest-expiring lots that still hold points.
  await db.schema
    .createIndex('point_lots_open_idx')
    .on('point_lots')
    .columns(['customer_id', 'expires_at', 'credited_at', 'id'])
    .where(sql.ref('remaining'), '>', 0)
    .execute();
  await db.schema
    .createIndex('point_lots_customer_idx')
    .on('point_lots')
    .columns(['customer_id', 'credited_at'])
    .execute();

  await db.schema
    .createTable('ledger_entries')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('lot_id', 'uuid', (c) => c.references('point_lots.id'))
    .addColumn('kind', 'text', (c) =>
      c.notNull().check(sql`kind in ('credit','redeem','reverse','expire','void','adjust')`),
    )
    .addColumn('points', 'integer', (c) => c.notNull().check(sql`points <> 0`))
    // every movement has one: a retried write finds its entry instead of booking it twice
    .addColumn('entry_key', 'text', (c) => c.notNull().unique())
    .addColumn('redemption_id', 'text')
    .addColumn('referral_id', 'uuid')
    .addColumn('actor', 'text')
    .addColumn('reason', 'text')
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('ledger_entries_customer_idx')
    .on('ledger_entries')
    .columns(['customer_id', 'id'])
    .execute();
  await db.schema.createIndex('ledger_entries_lot_idx').on('ledger_entries').columns(['lot_id', 'id']).execute();

  await db.schema
    .createTable('point_redemptions')
    .addColumn('customer_id', 'text', (c) => c.notNull().references('customers.id'))
    .addColumn('redemption_id', 'text', (c) => c.notNull())
    .addColumn('points', 'integer', (c) => c.notNull().check(sql`points > 0`))
    .addColumn('taken_from', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('reversed_at', 'timestamptz')
    .addPrimaryKeyConstraint('point_redemptions_pk', ['customer_id', 'redemption_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('point_redemptions').execute();
  await db.schema.dropTable('ledger_entries').execute();
  await db.schema.dropTable('point_lots').execute();
  await db.schema.alterTable('customers').dropColumn('points_balance').execute();
}
