import { leaseUndeliveredEvents, markEvent, rescheduleEvent } from '../db/inbox';
import type { InboxEvent } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { deliverOrder, type OrderEvent } from './order-delivery';
import { resumeSignup } from './signup-registration';
import { isTemporalUnreachable } from './workflow-failures';

export interface RelayPolicy {
  /** how long after acceptance an event belongs to the request that accepted it */
  olderThanMs: number;
  /** events taken per round, and delivered at once */
  batchSize: number;
  concurrency: number;
  /** how long a relay holds the events it took before another may take them */
  leaseMs: number;
  /** backoff after a failed attempt: first, doubling, at most */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** failed attempts (Temporal being down does not count) after which an event is set aside as failed */
  maxAttempts: number;
}

export const DEFAULT_RELAY_POLICY: RelayPolicy = {
  olderThanMs: 30_000,
  batchSize: 100,
  concurrency: 8,
  leaseMs: 60_000,
  initialBackoffMs: 5_000,
  maxBackoffMs: 10 * 60_000,
  maxAttempts: 10,
};

type Attempt = 'done' | 'unavailable' | { error: string };

/**
 * Finishes deliveries that an API process accepted but did not complete (it died, or Temporal was unreachable).
 * Every event has its own schedule, so one that keeps failing neither blocks nor delays the others, and is set
 * aside as `failed` with its reason for an admin to look at. Deliveries are idempotent (workflow ids and handlers key
 * on event ids), so racing a live request is harmless. Returns the number of events delivered.
 */
export async function relayUndeliveredEvents(deps: IntakeDependencies, overrides: Partial<RelayPolicy> = {}): Promise<number> {
  const policy = { ...DEFAULT_RELAY_POLICY, ...overrides };
  const now = deps.clock();
  const events = await leaseUndeliveredEvents(deps.db, {
    now,
    receivedBefore: new Date(now.getTime() - policy.olderThanMs),
    leaseUntil: new Date(now.getTime() + policy.leaseMs),
    limit: policy.batchSize,
  });
  let delivered = 0;
  let next = 0;
  const worker = async () => {
    while (next < events.length) {
      const event = events[next++]!;
      const attempt = await attemptDelivery(deps, event);
      if (attempt === 'done') delivered += 1;
      else await settleFailedAttempt(deps, policy, event, attempt);
    }
  };
  await Promise.all(Array.from({ length: Math.min(policy.concurrency, events.length) }, worker));
  return delivered;
}

async function attemptDelivery(deps: IntakeDependencies, event: InboxEvent): Promise<Attempt> {
  try {
    if (event.kind === 'order') await deliverOrder(deps, event.payload as unknown as OrderEvent);
    else await resumeSignup(deps, event);
    return 'done';
  } catch (error) {
    // A refusal is a final answer, kept on the event for replays to repeat (a no-op when the delivery kept it already).
    if (error instanceof IntakeError && error.final) {
      await markEvent(deps.db, event.kind, event.event_id, { state: 'ignored', response: { refusal: error.toRecord() }, note: error.detail });
      return 'done';
    }
    // Not final: the workflow call behind it failed, and why decides whether this event is at fault.
    const cause = error instanceof IntakeError ? error.cause : error;
    if (cause === undefined || isTemporalUnreachable(cause)) return 'unavailable';
    return { error: describe(cause) };
  }
}

const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

async function settleFailedAttempt(
  deps: IntakeDependencies,
  policy: RelayPolicy,
  event: InboxEvent,
  attempt: Exclude<Attempt, 'done'>,
): Promise<void> {
  const id = { kind: event.kind, eventId: event.event_id };
  const backoff = Math.min(policy.initialBackoffMs * 2 ** Math.max(0, event.attempts - 1), policy.maxBackoffMs);
  const retryAt = new Date(deps.clock().getTime() + backoff);
  if (attempt === 'unavailable') {
    // Not this event's fault: it waits for Temporal without using up its attempts.
    await rescheduleEvent(deps.db, id, { retryAt, error: 'Temporal unavailable' });
    return;
  }
  if (event.attempts >= policy.maxAttempts) {
    deps.logger.error({ ...id, attempts: event.attempts, reason: attempt.error }, 'inbox event set aside as failed');
    await rescheduleEvent(deps.db, id, { failed: true, error: attempt.error });
    return;
  }
  deps.logger.warn({ ...id, attempts: event.attempts, retryAt, reason: attempt.error }, 'inbox event delivery failed; will retry');
  await rescheduleEvent(deps.db, id, { retryAt, error: attempt.error });
}

/** Runs the relay now and then once per interval after each round ends (rounds never overlap) until stopped. */
export function startInboxRelay(
  deps: IntakeDependencies,
  { intervalMs = 5_000, ...policy }: { intervalMs?: number } & Partial<RelayPolicy> = {},
): { stop: () => Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const round = () => {
    running = relayUndeliveredEvents(deps, policy)
      .then(() => undefined)
      .catch((error: unknown) => deps.logger.error({ err: error }, 'relay round failed'))
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
