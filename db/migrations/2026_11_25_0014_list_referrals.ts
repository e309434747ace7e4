import { sql, type Kysely } from 'kysely';

const indexOn = {
  status: 'referrals_status_idx',
  referrer_id: 'referrals_referrer_idx',
  program_id: 'referrals_program_idx',
} as const;

/**
 * What the admin lists read: a referral's fraud flags and review deadline (written by the projection from the
 * workflow's snapshot), and indexes that serve every filter of GET /v1/admin/referrals and the review queue in their
 * page order. Pages are keyed on (created_at, id), which no write changes, so each index ends in those two columns and
 * a page's "after this row" is one range of it; a btree is read backwards as readily as forwards, so one index serves
 * newest first and oldest first alike.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('referrals')
    .addColumn('flags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('review_decide_by', 'timestamptz')
    .execute();

  // The unfiltered list, and the filters that select too much of the table for their own index to beat page order.
  await db.schema.createIndex('referrals_created_idx').on('referrals').columns(['created_at', 'id']).execute();
  // The filters by status, referrer and programme: the indexes the table was created with, extended by the id that
  // breaks ties between referrals created in the same instant.
  for (const column of ['status', 'referrer_id', 'program_id'] as const) {
    const name = indexOn[column];
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('referrals').columns([column, 'created_at', 'id']).execute();
  }
  // Flagged referrals are the few an admin looks at; the unflagged rest is read through referrals_created_idx.
  await db.schema
    .createIndex('referrals_flagged_idx')
    .on('referrals')
    .columns(['created_at', 'id'])
    .where(sql<boolean>`flags <> '{}'::text[]`)
    .execute();
  // "Updated since": the one filter that is not on a column every page is ordered by. It costs the projection's
  // order-count writes their HOT update, a price the admin's "what changed" question is worth.
  await db.schema.createIndex('referrals_updated_idx').on('referrals').column('updated_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('referrals_updated_idx').execute();
  await db.schema.dropIndex('referrals_flagged_idx').execute();
  for (const column of ['status', 'referrer_id', 'program_id'] as const) {
    await db.schema.dropIndex(indexOn[column]).execute();
    await db.schema.createIndex(indexOn[column]).on('referrals').columns([column, 'created_at']).execute();
  }
  await db.schema.dropIndex('referrals_created_idx').execute();
  await db.schema.alterTable('referrals').dropColumn('review_decide_by').dropColumn('flags').execute();
}
