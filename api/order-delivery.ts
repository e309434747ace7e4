import { findCustomer } from '../db/customers';
import { acceptEvent, markEvent, recordDeliveryFailure } from '../db/inbox';
import { orderSignal } from '../workflows/messages';
import { referralWorkflowId, type OrderFacts } from '../workflows/shared';
import { workflowCallDeadline, type AppDependencies } from './deps';
import { Problem } from './problems';
import { isWorkflowGone } from './temporal-errors';

export interface OrderEvent extends OrderFacts {
  customerId: string;
}

export type OrderDelivery = 'delivered' | 'awaiting_signup' | 'ignored' | 'retrying';

/**
 * An order event is kept first and answered 202 whatever happens next: once it is in the inbox it will reach its
 * referral, now, when its customer's signup arrives, or through the relay if this process dies or Temporal is down.
 */
export async function handleOrder(deps: AppDependencies, order: OrderEvent): Promise<{ duplicate: boolean }> {
  const acceptance = await acceptEvent(deps.db, {
    kind: 'order',
    eventId: order.eventId,
    customerId: order.customerId,
    orderId: order.orderId,
    payload: { ...order },
  });
  if (!acceptance.accepted) {
    if (!acceptance.samePayload) {
      throw new Problem(409, 'idempotency_conflict', `eventId ${order.eventId} was already used for a different order event`);
    }
    return { duplicate: true };
  }
  await deliverOrder(deps, order);
  return { duplicate: false };
}

export async function deliverOrder(deps: AppDependencies, order: OrderEvent): Promise<OrderDelivery> {
  // Read after the event is in the inbox: a registration that reserves this customer later takes it from there.
  const referralId = (await findCustomer(deps.db, order.customerId))?.referred_by_referral_id;
  if (!referralId) {
    await markEvent(deps.db, 'order', order.eventId, { state: 'awaiting_signup' });
    return 'awaiting_signup';
  }
  const { customerId: _customer, ...facts } = order;
  try {
    await deps.temporal.withDeadline(workflowCallDeadline(deps), () =>
      deps.temporal.workflow.getHandle(referralWorkflowId(referralId)).signal(orderSignal, facts),
    );
  } catch (error) {
    if (isWorkflowGone(error)) {
      await markEvent(deps.db, 'order', order.eventId, { state: 'ignored', referralId, note: 'the referral has ended' });
      return 'ignored';
    }
    deps.logger.warn({ err: error, eventId: order.eventId }, 'order accepted but not yet delivered');
    await recordDeliveryFailure(deps.db, 'order', order.eventId, String(error));
    return 'retrying';
  }
  await markEvent(deps.db, 'order', order.eventId, { state: 'delivered', referralId });
  return 'delivered';
}
