import type { DB } from '../db/connection';
import type { OrderFacts } from '../workflows/shared';

export function createInboxActivities({ db }: { db: DB }) {
  return {
    /**
     * Order events that reached the inbox before their customer's signup. Marks them delivered to this referral
     * and returns them, together with any it already took: a retry after a lost reply still gets every order.
     */
    async takeOrdersAwaitingSignup({
      referralId,
      refereeId,
    }: {
      referralId: string;
      refereeId: string;
    }): Promise<OrderFacts[]> {
      const rows = await db
        .updateTable('inbox_events')
        .set({ state: 'delivered', referral_id: referralId, delivered_at: new Date() })
        .where('kind', '=', 'order')
        .where('customer_id', '=', refereeId)
        .where((eb) => eb.or([eb('state', 'in', ['received', 'awaiting_signup']), eb('referral_id', '=', referralId)]))
        .returning(['payload'])
        .execute();
      return rows
        .map(({ payload }) => payload as unknown as OrderFacts & { customerId: string })
        .map(({ eventId, orderId, status, amount, currency, occurredAt }) => ({
          eventId,
          orderId,
          status,
          amount,
          currency,
          occurredAt,
        }))
        .sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    },
  };
}
