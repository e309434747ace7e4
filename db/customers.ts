import type { DB } from './connection';
import { normaliseEmail, normalisePhone } from './contact';
import type { ReferralStatus } from '../workflows/shared';
import type { Customer } from './schema';

/** The commerce backend owns customer ids: an unknown id is created on first use. Contact details fill in, never blank. */
export async function upsertCustomer(
  db: DB,
  customer: { id: string; email?: string | null | undefined; phone?: string | null | undefined },
): Promise<void> {
  const email = normaliseEmail(customer.email);
  const phone = normalisePhone(customer.phone);
  await db
    .insertInto('customers')
    .values({ id: customer.id, email_normalized: email, phone_normalized: phone })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        email_normalized: eb.fn.coalesce('excluded.email_normalized', 'customers.email_normalized'),
        phone_normalized: eb.fn.coalesce('excluded.phone_normalized', 'customers.phone_normalized'),
        updated_at: new Date(),
      })),
    )
    .execute();
}

export const findCustomer = (db: DB, id: string): Promise<Customer | undefined> =>
  db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();

/** The referral a customer was referred by, its status, and when its workflow finished (null while it runs). */
export const findRefereeReferral = (
  db: DB,
  customerId: string,
): Promise<{ referralId: string | null; status: ReferralStatus | null; closedAt: Date | null } | undefined> =>
  db
    .selectFrom('customers')
    .leftJoin('referrals', 'referrals.id', 'customers.referred_by_referral_id')
    .select([
      'customers.referred_by_referral_id as referralId',
      'referrals.status as status',
      'referrals.closed_at as closedAt',
    ])
    .where('customers.id', '=', customerId)
    .executeTakeFirst();

/**
 * Frees a customer held by a referral that ended without registering anyone: its registration reserved them in a
 * workflow task that was lost (the worker and Temporal died before recording it), and the referral then lapsed. Such
 * a hold refers nobody, and left standing it would refuse the customer as already referred for ever. Only a
 * reservation by that referral is cleared, and only once the projection shows it ended unregistered, which it never
 * leaves. Returns whether the customer was held so and is free now.
 */
export async function releaseReservationOfUnregisteredReferral(
  db: DB,
  customerId: string,
  referralId: string,
): Promise<boolean> {
  const result = await db
    .updateTable('customers')
    .set({ referred_by_referral_id: null, updated_at: new Date() })
    .where('id', '=', customerId)
    .where('referred_by_referral_id', '=', referralId)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('referrals')
          .select('referrals.id')
          .where('referrals.id', '=', referralId)
          .where('referrals.status', 'in', ['expired', 'rejected', 'cancelled'])
          .where('referrals.registered_at', 'is', null)
          .where('referrals.referee_id', 'is', null),
      ),
    )
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
