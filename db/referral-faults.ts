import type { DB } from './connection';
import type { ReferralFault } from './schema';

/** Referrals stopped by a failure no retry could fix, newest first, after a (createdAt, id) cursor. */
export async function findReferralFaults(
  db: DB,
  page: { limit: number; after?: { createdAt: Date; id: string } | undefined },
): Promise<ReferralFault[]> {
  let query = db.selectFrom('referral_faults').selectAll();
  const after = page.after;
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', after.createdAt),
        eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)]),
      ]),
    );
  }
  return query.orderBy('created_at', 'desc').orderBy('id').limit(page.limit).execute();
}
