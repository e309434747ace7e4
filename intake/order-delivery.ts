import { findRefereeReferral } from '../db/customers';
import { appendLateFact } from '../db/referrals';
import { acceptEvent, markEvent, recordDeliveryFailure } from '../db/inbox';
import { orderSignal } from '../workflows/messages';
import { isTerminal, referralWorkflowId, type OrderFacts } from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { callWorkflow, isWorkflowGone } from './workflow-failures';

export interface OrderEvent extends OrderFacts {
  customerId: string;
}

export type OrderDelivery = 'delivered' | 'awaiting_signup' | 'ignored';

/**
 * An order event is kept first and acknowledged whatever happens next: once it is in the inbox it will reach its
 * referral, now, when its customer's signup arrives, or through the relay if this process dies or Temporal is down.
 */
export async function handleOrder(deps: IntakeDependencies, order: OrderEvent): Promise<{ duplicate: boolean }> {
  const normalised: OrderEvent = { ...order, occurredAt: new Date(order.occurredAt).toISOString() };
  const acceptance = await acceptEvent(deps.db, {
    kind: 'order',
    eventId: normalised.eventId,
    customerId: normalised.customerId,
    orderId: normalised.orderId,
    payload: { ...normalised },
  });
  if (!acceptance.accepted) {
    if (!acceptance.samePayload) {
      throw new IntakeError(
        'idempotency_conflict',
        `eventId ${order.eventId} was already used for a different order event`,
      );
    }
    return { duplicate: true };
  }
  // Kept, so it is acknowledged now and delivered after the answer; a delivery that fails is the relay's to finish.
  const deliver = () => deliverOrder(deps, normalised, acceptance.event.received_at);
  if (!deps.deliveries?.offer(deliver)) await deliver().catch(() => undefined);
  return { duplicate: false };
}

/**
 * Signals the order to its customer's referral; what became of it is recorded on the inbox event. A signal that
 * fails is recorded too, then thrown, so the caller can tell a down Temporal from a fault of this event.
 */
export async function deliverOrder(
  deps: IntakeDependencies,
  order: OrderEvent,
  reportedAt: Date,
): Promise<OrderDelivery> {
  // Read after the event is in the inbox: a registration that reserves this customer later takes it from there.
  const referee = await findRefereeReferral(deps.db, order.customerId);
  const referralId = referee?.referralId;
  if (!referralId) {
    await markEvent(deps.db, 'order', order.eventId, { state: 'awaiting_signup' });
    return 'awaiting_signup';
  }
  // A finished referral takes no more facts: settled here, without a Temporal call. So is one that has ended other
  // than completed (a completed one counts on for its milestone) while its workflow writes its close.
  const ended = referee.status !== null && isTerminal(referee.status) && referee.status !== 'completed';
  if (referee.closedAt || ended) return settleAfterEnd(deps, referralId, order);
  const { customerId: _customer, ...rest } = order;
  const facts: OrderFacts = { ...rest, reportedAt: reportedAt.toISOString() };
  try {
    await callWorkflow(deps, () =>
      deps.temporal.workflow.getHandle(referralWorkflowId(referralId)).signal(orderSignal, facts),
    );
  } catch (error) {
    if (isWorkflowGone(error)) return settleAfterEnd(deps, referralId, order);
    deps.logger.warn({ err: error, eventId: order.eventId }, 'order accepted but not yet delivered');
    await recordDeliveryFailure(deps.db, 'order', order.eventId, String(error));
    throw error;
  }
  await markEvent(deps.db, 'order', order.eventId, { state: 'delivered', referralId });
  return 'delivered';
}

/**
 * An order for a referral that has ended is shown on its timeline as a late fact (once per event), then kept on the
 * event as settled: a crash in between leaves the event for the relay, which appends nothing twice.
 */
async function settleAfterEnd(deps: IntakeDependencies, referralId: string, order: OrderEvent): Promise<'ignored'> {
  await appendLateFact(deps.db, referralId, {
    at: deps.clock(),
    kind: 'late_fact',
    eventId: order.eventId,
    detail: {
      fact: 'order',
      orderId: order.orderId,
      orderStatus: order.status,
      occurredAt: order.occurredAt,
      reason: 'the referral had ended',
    },
  });
  await markEvent(deps.db, 'order', order.eventId, { state: 'ignored', referralId, note: 'the referral has ended' });
  return 'ignored';
}
