import { findUndeliveredEvents } from '../db/inbox';
import type { InboxEvent } from '../db/schema';
import type { AppDependencies } from './deps';
import { deliverOrder, type OrderEvent } from './order-delivery';
import { Problem } from './problems';
import { resumeSignup } from './signup-registration';

/**
 * Finishes deliveries that an API process accepted but did not complete (it died, or Temporal was unreachable).
 * Deliveries are idempotent (workflow ids and handlers key on event ids), so racing a live request is harmless.
 */
export async function relayUndeliveredEvents(
  deps: AppDependencies,
  options: { olderThanMs?: number; limit?: number } = {},
): Promise<number> {
  const before = new Date(deps.clock().getTime() - (options.olderThanMs ?? 30_000));
  const events = await findUndeliveredEvents(deps.db, before, options.limit ?? 100);
  for (const event of events) await relayOne(deps, event);
  return events.length;
}

async function relayOne(deps: AppDependencies, event: InboxEvent): Promise<void> {
  try {
    if (event.kind === 'order') await deliverOrder(deps, event.payload as unknown as OrderEvent);
    else await resumeSignup(deps, event);
  } catch (error) {
    // A refusal is recorded on the event; anything else leaves it for the next round.
    if (!(error instanceof Problem)) deps.logger.error({ err: error, eventId: event.event_id }, 'relay failed');
  }
}

/** Runs the relay now and then every interval until stopped. */
export function startInboxRelay(
  deps: AppDependencies,
  { intervalMs = 5_000, olderThanMs = 30_000 }: { intervalMs?: number; olderThanMs?: number } = {},
): { stop: () => Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = relayUndeliveredEvents(deps, { olderThanMs }).catch((error) => deps.logger.error({ err: error }, 'relay round failed'));
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
