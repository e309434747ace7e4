import { sql, type Kysely } from 'kysely';

/**
 * Every admin action on a referral, append-only: who (the API key's name), when, what, why, and the referral before
 * and after. Written by the referral's workflow as it applies the action, so an action that happened is never
 * missing from the log; one row per action and request id, whatever retries.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('admin_audit')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action in ('approve','reject','cancel','extend','move')`))
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('before', 'jsonb', (c) => c.notNull())
    .addColumn('after', 'jsonb', (c) => c.notNull())
    .addUniqueConstraint('admin_audit_request_uq', ['referral_id', 'action', 'request_id'])
    .execute();
  // the audit list's filters, newest first
  await db.schema.createIndex('admin_audit_at_idx').on('admin_audit').columns(['at desc', 'id desc']).execute();
  await db.schema
    .createIndex('admin_audit_referral_idx')
    .on('admin_audit')
    .columns(['referral_id', 'at desc', 'id desc'])
    .execute();
  await db.schema
    .createIndex('admin_audit_actor_idx')
    .on('admin_audit')
    .columns(['actor', 'at desc', 'id desc'])
    .execute();
  // append-only: rows are never changed or removed
  await sql`create function admin_audit_append_only() returns trigger language plpgsql as $$
    begin raise exception 'admin_audit is append-only'; end $$`.execute(db);
  await sql`create trigger admin_audit_append_only before update or delete on admin_audit
    for each row execute function admin_audit_append_only()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('admin_audit').execute();
  await sql`drop function if exists admin_audit_append_only()`.execute(db);
}
