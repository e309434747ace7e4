import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { classifyDatabaseFaults } from '../activities/database-faults';
import { createLedgerActivities } from '../activities/ledger';
import type { DB } from '../db/connection';
import { TASK_QUEUE } from '../workflows/shared';
import { buildWorkflowBundle } from './workflow-bundle';

/**
 * Referrals kept in memory between their workflow tasks. The SDK sizes its cache from the heap limit (about 2,300 on a
 * 4 GB heap), and every cached referral costs the service 0.25 to 0.45 MB of RSS (a registered one more than a claim;
 * its workflow's own objects are about 40 KB of that, the rest the SDK's state for the run), over a ready service of
 * about 280 MB, whatever the number of referrals open. So the cache, not the referrals open, sets the service's
 * memory: 1,000 held it at 620 to 680 MB from 3,000 to 100,000 open, 600 at 510 to 640 MB with 3,000 to 10,000
 * registered referrals (README: Footprint at 100,000 open). The price of a referral out of the cache is a replay of its
 * history on its next task, about 50 ms of worker CPU: with 316 referrals taking orders in turn, a cache of 250
 * replayed for nearly every order, and any cache above 316 for none (README, Benchmark). A mass wake (10,000 windows
 * closing together) replays with any cache short of 10,000.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

/**
 * Workflow tasks the worker runs at once: the SDK's default, kept because 8 measured the same at 300 referrals (README,
 * Benchmark). Local activities (registration, taking orders from the inbox, the claim's first write) hold their task's
 * slot; a worker whose tasks run long under load can take fewer, so tasks wait on the server instead of inside it,
 * against the task's 10 s timeout.
 */
export const DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS = 40;

/** The referral worker: the workflow bundle (referrals and point lots) plus the activities over the given database. */
export async function createReferralWorker(options: {
  connection: NativeConnection;
  namespace: string;
  db: DB;
  taskQueue?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxCachedWorkflows?: number | undefined;
  /** workflow tasks run at once; DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS when left out, never more than the cache */
  maxConcurrentWorkflowTasks?: number | undefined;
}): Promise<Worker> {
  const maxCachedWorkflows = options.maxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS;
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowBundle: options.workflowBundle ?? (await buildWorkflowBundle()),
    maxCachedWorkflows,
    // may not exceed the cache
    maxConcurrentWorkflowTaskExecutions: Math.max(
      2,
      Math.min(options.maxConcurrentWorkflowTasks ?? DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS, maxCachedWorkflows),
    ),
    activities: {
      ...createActivities({ db: options.db }),
      // a ledger write no retry can fix fails its lot's workflow, shown in the UI, instead of retrying for ever
      ...classifyDatabaseFaults(createLedgerActivities({ db: options.db })),
    },
  });
}
