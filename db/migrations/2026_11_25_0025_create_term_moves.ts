import { sql, type Kysely } from 'kysely';

/**
 * Moves of open referrals to another programme version, and what each did to each referral. A move is the admin's
 * request (its moveId is the key, so a repeat finds it); its items are written by the move's workflow, one per referral
 * whatever retries, so a move that stops and resumes lists every referral once. Dry runs are answered, not kept.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('term_moves')
    .addColumn('move_id', 'text', (c) => c.primaryKey())
    .addColumn('program_id', 'text', (c) => c.notNull().references('programs.id'))
    .addColumn('to_version', 'integer', (c) => c.notNull())
    .addColumn('selection', 'jsonb', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('body_hash', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('running','done')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addForeignKeyConstraint('term_moves_version_fk', ['program_id', 'to_version'], 'program_versions', [
      'program_id',
      'version',
    ])
    .execute();
  await db.schema
    .createTable('term_move_items')
    .addColumn('move_id', 'text', (c) => c.notNull().references('term_moves.move_id').onDelete('cascade'))
    .addColumn('referral_id', 'uuid', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('moved','skipped','failed')`))
    .addColumn('from_version', 'integer')
    .addColumn('code', 'text')
    .addColumn('reason', 'text')
    .addColumn('changes', 'jsonb')
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('term_move_items_pk', ['move_id', 'referral_id'])
    .execute();
  // A move's candidates: the programme's open referrals in the order no move changes.
  await db.schema
    .createIndex('referrals_open_by_program_idx')
    .on('referrals')
    .columns(['program_id', 'created_at', 'id'])
    .where(sql.ref('closed_at'), 'is', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_open_by_program_idx').execute();
  await db.schema.dropTable('term_move_items').execute();
  await db.schema.dropTable('term_moves').execute();
}
