import { sql, type Kysely } from 'kysely';

/**
 * Moves of open referrals to another programme version, and what each did to each referral. A move is the admin's
 * request (its requestId is the move's id, so a repeat finds it); its items are written by the move's workflow, one per
 * referral whatever retries, so a move that stops and resumes lists every referral once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('term_moves')
    .addColumn('move_id', 'text', (c) => c.primaryKey())
    .addColumn('program_id', 'text', (c) => c.notNull().references('programs.id'))
    .addColumn('to_version', 'integer', (c) => c.notNull())
    .addColumn('dry_run', 'boolean', (c) => c.notNull())
    .addColumn('selection', 'jsonb', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('body_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('running','finished')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addForeignKeyConstraint('term_moves_version_fk', ['program_id', 'to_version'], 'program_versions', [
      'program_id',
      'version',
    ])
    .execute();
  await db.schema
    .createIndex('term_moves_program_idx')
    .on('term_moves')
    .columns(['program_id', 'created_at desc', 'move_id desc'])
    .execute();
  await db.schema
    .createTable('term_move_items')
    .addColumn('move_id', 'text', (c) => c.notNull().references('term_moves.move_id').onDelete('cascade'))
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) =>
      c.notNull().check(sql`outcome in ('moved','would_move','unchanged','refused')`),
    )
    .addColumn('from_version', 'integer')
    .addColumn('code', 'text')
    .addColumn('reason', 'text')
    .addColumn('changes', 'jsonb')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('term_move_items_pk', ['move_id', 'referral_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('term_move_items').execute();
  await db.schema.dropTable('term_moves').execute();
}
