import { sql } from 'kysely';
import type { DB } from '../db/connection';

export function createReferrerCompletionActivities({ db }: { db: DB }) {
  return {
    /**
     * Counts a completed referral for its referrer, once: returns its place in the referrer's completions (1 for the
     * first). The referrer's row is locked while counting, so two completions at the same moment get 1 and 2, not
     * both 1; a retry or replay for the same referral gets the place it got first.
     */
    async recordReferrerCompletion({
      referralId,
      referrerId,
      completedAt,
    }: {
      referralId: string;
      referrerId: string;
      completedAt: string;
    }): Promise<{ ordinal: number }> {
      return db.transaction().execute(async (trx) => {
        await trx
          .insertInto('customers')
          .values({ id: referrerId, email_normalized: null, phone_normalized: null })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        await sql`select 1 from customers where id = ${referrerId} for update`.execute(trx);
        const earlier = await trx
          .selectFrom('referrer_completions')
          .select('ordinal')
          .where('referral_id', '=', referralId)
          .executeTakeFirst();
        if (earlier) return { ordinal: earlier.ordinal };
        const counted = await trx
          .selectFrom('referrer_completions')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('referrer_id', '=', referrerId)
          .executeTakeFirstOrThrow();
        const ordinal = Number(counted.n) + 1;
        await trx
          .insertInto('referrer_completions')
          .values({ referral_id: referralId, referrer_id: referrerId, ordinal, completed_at: completedAt })
          .execute();
        return { ordinal };
      });
    },
  };
}
