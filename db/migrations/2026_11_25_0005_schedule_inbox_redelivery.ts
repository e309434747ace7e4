import { sql, type Kysely } from 'kysely';

/**
 * Each undelivered event gets its own schedule: when the relay may try it next (a lease while one relay holds it,
 * then an exponential backoff), when it last tried, and a `failed` state for events set aside after too many tries.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('inbox_events')
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('last_attempt_at', 'timestamptz')
    .execute();
  await sql`alter table inbox_events drop constraint inbox_events_state_check`.execute(db);
  await sql`alter table inbox_events add constraint inbox_events_state_check
    check (state in ('received','delivered','awaiting_signup','ignored','failed'))`.execute(db);
  // What the relay takes next: undelivered events by when they are due.
  await sql`create index inbox_events_due_idx on inbox_events ((coalesce(next_attempt_at, received_at))) where state = 'received'`.execute(
    db,
  );
  // What an admin lists: the events set aside, most recently tried first.
  await db.schema
    .createIndex('inbox_events_failed_idx')
    .on('inbox_events')
    .columns(['last_attempt_at desc', 'kind', 'event_id'])
    .where(sql.ref('state'), '=', 'failed')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('inbox_events_failed_idx').execute();
  await db.schema.dropIndex('inbox_events_due_idx').execute();
  await sql`update inbox_events set state = 'received' where state = 'failed'`.execute(db);
  await sql`alter table inbox_events drop constraint inbox_events_state_check`.execute(db);
  await sql`alter table inbox_events add constraint inbox_events_state_check
    check (state in ('received','delivered','awaiting_signup','ignored'))`.execute(db);
  await db.schema.alterTable('inbox_events').dropColumn('next_attempt_at').dropColumn('last_attempt_at').execute();
}
