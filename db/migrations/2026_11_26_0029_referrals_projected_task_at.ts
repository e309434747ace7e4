import type { Kysely } from 'kysely';

/**
 * The instant of the latest workflow task the projection heard from: a write from an earlier task comes from a task
 * that was lost or from an attempt that outlived its timeout, and lands nowhere (activities/projection-order.ts).
 * Rows written before it have none, and are judged by their timeline entries alone.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals').addColumn('projected_task_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('referrals').dropColumn('projected_task_at').execute();
}
