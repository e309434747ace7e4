import { sql, type Kysely } from 'kysely';

/** Orders of customers nobody referred, oldest first: what the retention schedule purges. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('inbox_events_unreferred_orders_idx')
    .on('inbox_events')
    .column('received_at')
    .where(sql.ref('kind'), '=', 'order')
    .where(sql.ref('state'), '=', 'awaiting_signup')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('inbox_events_unreferred_orders_idx').execute();
}
