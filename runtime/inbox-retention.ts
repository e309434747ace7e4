import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleSpec } from '@temporalio/client';
import { durationToMs } from '../workflows/durations';
import { inboxRetentionWorkflow } from '../workflows/inbox-retention';
import { TASK_QUEUE } from '../workflows/shared';

/**
 * How long the inbox keeps an order of a customer nobody referred: long enough for a signup reported late (its
 * registration dated back) to still find the orders dated after it, short enough that shoppers who never come through
 * a referral do not fill the inbox for ever. Setting: UNREFERRED_ORDER_RETENTION.
 */
export const DEFAULT_UNREFERRED_ORDER_RETENTION = '90 days';

export const INBOX_RETENTION_SCHEDULE_ID = 'inbox-retention';

/** The retention setting, checked before anything starts: a schedule retried in the background must not hide it. */
export function requireRetention(retention: string): string {
  if (durationToMs(retention) === undefined)
    throw new TypeError(`not a retention period: ${JSON.stringify(retention)}`);
  return retention;
}

/**
 * The Temporal Schedule that runs the inbox's retention once a day (visible under Schedules in the Web UI; paused,
 * triggered or deleted there). Created on first start, brought in line with the current settings on every later one.
 */
export async function ensureInboxRetentionSchedule(
  client: Client,
  options: { retention: string; every?: `${number} ${'seconds' | 'minutes' | 'hours' | 'days'}`; taskQueue?: string },
): Promise<void> {
  requireRetention(options.retention);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: inboxRetentionWorkflow,
    workflowId: INBOX_RETENTION_SCHEDULE_ID,
    args: [{ retention: options.retention }] as [{ retention: string }],
    taskQueue: options.taskQueue ?? TASK_QUEUE,
  };
  const spec: ScheduleSpec = { intervals: [{ every: options.every ?? '1 days' }] };
  try {
    await client.schedule.create({
      scheduleId: INBOX_RETENTION_SCHEDULE_ID,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await client.schedule.getHandle(INBOX_RETENTION_SCHEDULE_ID).update((previous) => ({ ...previous, spec, action }));
  }
}
