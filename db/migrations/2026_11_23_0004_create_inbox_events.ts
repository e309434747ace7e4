import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inbox_events')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('signup','order')`))
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('payload_hash', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .defaultTo('received')
        .check(sql`state in ('received','delivered','awaiting_signup','ignored')`),
    )
    .addColumn('referral_id', 'uuid')
    .addColumn('response', 'jsonb')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('delivered_at', 'timestamptz')
    // A replayed event id is recognised here and answered as a duplicate.
    .addPrimaryKeyConstraint('inbox_events_pk', ['kind', 'event_id'])
    .execute();
  // What the relay and a new registration look for: events not yet delivered to a workflow.
  await db.schema
    .createIndex('inbox_events_undelivered_idx')
    .on('inbox_events')
    .columns(['customer_id', 'state'])
    .where(sql.ref('state'), 'in', ['received', 'awaiting_signup'])
    .execute();
  await db.schema
    .createIndex('inbox_events_relay_idx')
    .on('inbox_events')
    .column('received_at')
    .where(sql.ref('state'), '=', 'received')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('inbox_events').execute();
}
