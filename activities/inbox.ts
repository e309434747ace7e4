import { sql } from 'kysely';
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

    /**
     * Deletes up to `limit` orders of customers nobody referred that were received before `receivedBefore`, oldest
     * first: past the retention nothing they say can count any more. Rows a registration is taking right now are
     * skipped, not waited for. A customer whose signup is accepted but not yet delivered (Temporal was down, or the
     * relay set it aside as failed for an admin to hand back) is about to be referred: their orders stay for that
     * registration to take. Returns how many went.
     */
    async purgeUnreferredOrders({ receivedBefore, limit }: { receivedBefore: string; limit: number }): Promise<number> {
      const result = await sql`
        delete from inbox_events
         where (kind, event_id) in (
           select o.kind, o.event_id from inbox_events o
            where o.kind = 'order' and o.state = 'awaiting_signup' and o.received_at < ${new Date(receivedBefore)}
              and not exists (select 1 from inbox_events s
                               where s.customer_id = o.customer_id and s.kind = 'signup' and s.state = 'received')
              and not exists (select 1 from inbox_events s
                               where s.customer_id = o.customer_id and s.kind = 'signup' and s.state = 'failed')
            order by o.received_at
            limit ${limit}
            for update of o skip locked)`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}
