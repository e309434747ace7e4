import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('referrals')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('program_id', 'text', (c) => c.notNull().references('programs.id'))
    .addColumn('program_version', 'integer', (c) => c.notNull())
    .addColumn('code', 'text', (c) => c.notNull())
    .addColumn('referrer_id', 'text', (c) => c.notNull())
    // At most one referral per referee, ever.
    .addColumn('referee_id', 'text', (c) => c.unique())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`status in ('pending','registered','qualified','completed','expired','rejected','cancelled','under_review')`,
        ),
    )
    .addColumn('channel', 'text')
    .addColumn('invitee_email', 'text')
    .addColumn('invitee_phone', 'text')
    .addColumn('ip', 'text')
    .addColumn('device_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('registered_at', 'timestamptz')
    .addColumn('qualified_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('ended_at', 'timestamptz')
    .addColumn('end_reason', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('qualify_by', 'timestamptz')
    .addColumn('hold_until', 'timestamptz')
    .addColumn('counted_orders', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('counted_spend', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('projection_seq', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addForeignKeyConstraint('referrals_program_version_fk', ['program_id', 'program_version'], 'program_versions', [
      'program_id',
      'version',
    ])
    .execute();
  await db.schema.createIndex('referrals_status_idx').on('referrals').columns(['status', 'created_at']).execute();
  await db.schema
    .createIndex('referrals_referrer_idx')
    .on('referrals')
    .columns(['referrer_id', 'created_at'])
    .execute();
  await db.schema.createIndex('referrals_program_idx').on('referrals').columns(['program_id', 'created_at']).execute();

  await db.schema
    .createTable('referral_timeline')
    .addColumn('referral_id', 'uuid', (c) => c.notNull().references('referrals.id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('detail', 'jsonb')
    // The workflow's (referral, seq) is the idempotency key: a retried projection writes nothing twice.
    .addPrimaryKeyConstraint('referral_timeline_pk', ['referral_id', 'seq'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('referral_timeline').execute();
  await db.schema.dropTable('referrals').execute();
}
