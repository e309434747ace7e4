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
  let handled = 0;
  for (const event of events) {
    // While Temporal does not answer, the rest of the round would only wait out the same deadline.
    if (!(await relayOne(deps, event))) break;
    handled += 1;
  }
  return handled;
}

/** Delivers one event; false when Temporal looked unreachable. */
async function relayOne(deps: AppDependencies, event: InboxEvent): Promise<boolean> {
  try {
    if (event.kind === 'order') return (await deliverOrder(deps, event.payload as unknown as OrderEvent)) !== 'retrying';
    await resumeSignup(deps, event);
    return true;
  } catch (error) {
    // A refusal is recorded on the event; anything else leaves it for the next round.
    if (error instanceof Problem) return error.code !== 'temporarily_unavailable';
    deps.logger.error({ err: error, eventId: event.event_id }, 'relay failed');
    return true;
  }
}

/** Runs the relay now and then once per interval after each round ends (rounds never overlap) until stopped. */
export function startInboxRelay(
  deps: AppDependencies,
  { intervalMs = 5_000, olderThanMs = 30_000 }: { intervalMs?: number; olderThanMs?: number } = {},
): { stop: () => Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const round = () => {
    running = relayUndeliveredEvents(deps, { olderThanMs })
      .then(() => undefined)
      .catch((error) => deps.logger.error({ err: error }, 'relay round failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(round, intervalMs);
      });
  };
  round();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
