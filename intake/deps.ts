import type { Client } from '@temporalio/client';
import type { DB } from '../db/connection';
import type { Logger } from '../runtime/logger';
import type { DeliveryQueue } from './delivery-queue';

/** What the intake needs from the outside world; tests pass their own. */
export interface IntakeDependencies {
  db: DB;
  temporal: Client;
  clock: () => Date;
  logger: Logger;
  taskQueue: string;
  /** How long a delivery waits on a workflow before giving up (the inbox keeps the event for a later attempt). */
  workflowCallTimeoutMs?: number | undefined;
  /** Where accepted orders wait for delivery after their 202; without one they are delivered before it. */
  deliveries?: DeliveryQueue | undefined;
}

/** The instant a Temporal call made for one event gives up. */
export const workflowCallDeadline = (deps: IntakeDependencies): number =>
  Date.now() + (deps.workflowCallTimeoutMs ?? 10_000);
