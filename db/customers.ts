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
