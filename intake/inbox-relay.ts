import { isGrpcCancelledError, isGrpcDeadlineError } from '@temporalio/client';
import { leaseNextUndeliveredEvent, markEvent, rescheduleEvent } from '../db/inbox';
import type { InboxEvent } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { IntakeError } from './errors';
import { deliverOrder, type OrderEvent } from './order-delivery';
import { resumeSignup } from './signup-registration';
import { callWorkflow, isTemporalUnreachable } from './workflow-failures';

export interface RelayPolicy {
  /** how long after acceptance an event belongs to the request that accepted it */
  olderThanMs: number;
  /** events delivered per round at most, and at once */
  batchSize: number;
  concurrency: number;
  /** how long a relay holds an event it took before another may take it: well past one delivery's deadlines */
  leaseMs: number;
  /** backoff after a failed attempt: first, doubling, at most */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** failed attempts (Temporal or the workers being down do not count) after which an event is set aside as failed */
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

/** done; nobody's fault (Temporal or every worker down: the attempt is given back); or this event's failure */
type Attempt = 'done' | 'unavailable' | { error: string; deadline?: boolean };

/**
 * Finishes deliveries that an API process accepted but did not complete (it died, or Temporal was unreachable).
 * Every event has its own schedule, so one that keeps failing neither blocks nor delays the others, and is set
 * aside as `failed` with its reason for an admin to look at. Deliveries are idempotent (workflow ids and handlers key
 * on event ids), so racing a live request is harmless. Returns the number of events delivered.
 */
export async function relayUndeliveredEvents(
  deps: IntakeDependencies,
  overrides: Partial<RelayPolicy> = {},
  /** checked between events: a relay being stopped takes no new ones */
  stopping: () => boolean = () => false,
): Promise<number> {
  const policy = { ...DEFAULT_RELAY_POLICY, ...overrides };
  let delivered = 0;
  let taken = 0;
  let workersChecked: Promise<boolean> | undefined;
  const workersPolling = () => (workersChecked ??= areWorkersPolling(deps));

  const worker = async () => {
    while (taken < policy.batchSize && !stopping()) {
      taken += 1;
      const now = deps.clock();
      const leaseUntil = new Date(now.getTime() + policy.leaseMs);
      const event = await leaseNextUndeliveredEvent(deps.db, {
        now,
        receivedBefore: new Date(now.getTime() - policy.olderThanMs),
        leaseUntil,
      });
      if (!event) return;
      try {
        let attempt = await attemptDelivery(deps, event);
        // A workflow that does not answer in time is this event's problem, unless no worker is polling at all.
        if (typeof attempt === 'object' && attempt.deadline && !(await workersPolling())) attempt = 'unavailable';
        if (attempt === 'done') delivered += 1;
        else await settleFailedAttempt(deps, policy, event, leaseUntil, attempt);
      } catch (error) {
        // The database failed under the relay itself: the lease runs out and the event is taken up again.
        deps.logger.error({ err: error, kind: event.kind, eventId: event.event_id }, 'relay could not settle an event');
      }
    }
  };
  await Promise.allSettled(Array.from({ length: policy.concurrency }, worker));
  return delivered;
}

async function attemptDelivery(deps: IntakeDependencies, event: InboxEvent): Promise<Attempt> {
  try {
    if (event.kind === 'order') await deliverOrder(deps, event.payload as unknown as OrderEvent, event.received_at);
    else await resumeSignup(deps, event);
    return 'done';
  } catch (error) {
    // A refusal is a final answer, kept on the event for replays to repeat (a no-op when the delivery kept it already).
    if (error instanceof IntakeError && error.final) {
      await markEvent(deps.db, event.kind, event.event_id, {
        state: 'ignored',
        response: { refusal: error.toRecord() },
        note: error.detail,
      });
      return 'done';
    }
    // Not final: the workflow call behind it failed, and why decides whether this event is at fault.
    const cause = error instanceof IntakeError && error.cause !== undefined ? error.cause : error;
    if (isTemporalUnreachable(cause)) return 'unavailable';
    // The intake cancels none of its calls: CANCELLED is the server resetting the call at its deadline.
    return { error: describe(cause), deadline: isGrpcDeadlineError(cause) || isGrpcCancelledError(cause) };
  }
}

const describe = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** Whether any worker polls the referral task queue; a failed look counts as none (Temporal is in trouble). */
async function areWorkersPolling(deps: IntakeDependencies): Promise<boolean> {
  try {
    const described = await callWorkflow(deps, () =>
      deps.temporal.workflowService.describeTaskQueue({
        namespace: deps.temporal.options.namespace,
        taskQueue: { name: deps.taskQueue },
        taskQueueType: 1 /* TASK_QUEUE_TYPE_WORKFLOW */,
      }),
    );
    return (described.pollers?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

async function settleFailedAttempt(
  deps: IntakeDependencies,
  policy: RelayPolicy,
  event: InboxEvent,
  leaseUntil: Date,
  attempt: Exclude<Attempt, 'done'>,
): Promise<void> {
  const id = { kind: event.kind, eventId: event.event_id };
  const backoff = Math.min(policy.initialBackoffMs * 2 ** Math.max(0, event.attempts - 1), policy.maxBackoffMs);
  const retryAt = new Date(deps.clock().getTime() + backoff);
  const leased = { ...id, leaseUntil };
  if (attempt === 'unavailable') {
    // Not this event's fault: it waits for Temporal without using up its attempts.
    await rescheduleEvent(deps.db, leased, {
      retryAt,
      error: 'Temporal or its workers unavailable',
      refundAttempt: true,
    });
    return;
  }
  if (event.attempts >= policy.maxAttempts) {
    deps.logger.error({ ...id, attempts: event.attempts, reason: attempt.error }, 'inbox event set aside as failed');
    await rescheduleEvent(deps.db, leased, { failed: true, error: attempt.error });
    return;
  }
  deps.logger.warn(
    { ...id, attempts: event.attempts, retryAt, reason: attempt.error },
    'inbox event delivery failed; will retry',
  );
  await rescheduleEvent(deps.db, leased, { retryAt, error: attempt.error });
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
    running = relayUndeliveredEvents(deps, policy, () => stopped)
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
