import { sql } from 'kysely';
import type { DB } from '../db/connection';
import type { OrderFacts } from '../workflows/shared';

export function createInboxActivities({ db }: { db: DB }) {
  return {
    /**
     * Order events that reached the inbox before their customer's signup. Marks them delivered to this referral
     * and returns them, together with any it already took: a retry after a lost reply still gets every order.
     */
    takeOrdersAwaitingSignup: (request: { referralId: string; refereeId: string }) => takeRefereeOrders(db, request),

    /**
     * Before one of its deadlines is decided: the referee's orders the intake accepted and has not delivered yet (its
     * delivery was cut off by a restart or an outage). Read only: their delivery stays the API's and the relay's, whose
     * signal the referral absorbs as a repeat, so a retry of this call sees the same events and it never grows with
     * the orders already delivered.
     */
    async takeReportedOrders({ refereeId }: { referralId: string; refereeId: string }): Promise<OrderFacts[]> {
      const rows = await db
        .selectFrom('inbox_events')
        .select(['payload', 'received_at'])
        .where('kind', '=', 'order')
        .where('customer_id', '=', refereeId)
        .where('state', 'in', ['received', 'awaiting_signup'])
        .execute();
      return toOrderFacts(rows);
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

    /**
     * Deletes up to `limit` early counts (countReferralEarly) written before `countedBefore`: ones the referral's first
     * projection write never took over (its claim stopped before its workflow started), which would count toward their
     * referrer's pace for the whole velocity window. Rows a projection or a refused signup is deleting right now are
     * skipped, not waited for. Returns how many went.
     */
    async purgeLeakedEarlyCounts({ countedBefore, limit }: { countedBefore: string; limit: number }): Promise<number> {
      const result = await sql`
        delete from referrals_counted_early
         where referral_id in (
           select referral_id from referrals_counted_early
            where counted_at < ${new Date(countedBefore)}
            limit ${limit}
            for update skip locked)`.execute(db);
      return Number(result.numAffectedRows ?? 0n);
    },
  };
}

/**
 * The referee's order events not delivered yet, marked delivered to this referral, with every one delivered to it
 * before: each with the instant the intake accepted it. Repeating it returns the same events.
 */
async function takeRefereeOrders(
  db: DB,
  { referralId, refereeId }: { referralId: string; refereeId: string },
): Promise<OrderFacts[]> {
  const rows = await db
    .updateTable('inbox_events')
    .set({ state: 'delivered', referral_id: referralId, delivered_at: new Date() })
    .where('kind', '=', 'order')
    .where('customer_id', '=', refereeId)
    .where((eb) => eb.or([eb('state', 'in', ['received', 'awaiting_signup']), eb('referral_id', '=', referralId)]))
    .returning(['payload', 'received_at'])
    .execute();
  return toOrderFacts(rows);
}

/** Inbox rows as the order facts a referral takes, each with the instant the intake accepted it, oldest first. */
function toOrderFacts(rows: Array<{ payload: unknown; received_at: Date }>): OrderFacts[] {
  return rows
    .map(({ payload, received_at }) => {
      const { eventId, orderId, status, amount, currency, occurredAt } = payload as unknown as OrderFacts;
      return { eventId, orderId, status, amount, currency, occurredAt, reportedAt: received_at.toISOString() };
    })
    .sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
}
