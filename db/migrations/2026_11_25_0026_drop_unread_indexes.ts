import { sql, type Kysely } from 'kysely';

/**
 * Indexes no query reads, paid for on every write. Customers are only ever looked up by id: a self-referral compares
 * the referee's contact details with the referrer's row, never searches by them, so the e-mail and phone indexes
 * (mostly NULLs: most customers arrive without either) are dead weight. The relay takes its next event through
 * inbox_events_due_idx (by coalesce(next_attempt_at, received_at)), which replaced inbox_events_relay_idx; the older
 * index was still written with every event received. Together about 250 bytes of a referral's footprint (scripts/bench).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('customers_email_idx').ifExists().execute();
  await db.schema.dropIndex('customers_phone_idx').ifExists().execute();
  await db.schema.dropIndex('inbox_events_relay_idx').ifExists().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('customers_email_idx').on('customers').column('email_normalized').execute();
  await db.schema.createIndex('customers_phone_idx').on('customers').column('phone_normalized').execute();
  await db.schema
    .createIndex('inbox_events_relay_idx')
    .on('inbox_events')
    .column('received_at')
    .where(sql.ref('state'), '=', 'received')
    .execute();
}
