import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { classifyDatabaseFaults } from '../activities/database-faults';
import { createLedgerActivities } from '../activities/ledger';
import type { DB } from '../db/connection';
import { TASK_QUEUE } from '../workflows/shared';
import { buildWorkflowBundle } from './workflow-bundle';

/**
 * Referrals kept in memory between their workflow tasks. The SDK sizes its cache from the heap limit (about 2,300 on a
 * 4 GB heap). A cached referral's own objects are about 67 KB of the workflow thread's heap (a claim just begun,
 * scripts/bench/workflow-heap.ts), but the service's RSS grows by about 0.3 MB for each, V8's and the allocator's
 * headroom included: with 1,000 cached it read 621 to 642 MB from 10,000 to 100,000 open claims, with 500 475 to 491
 * MB (352 to 548 opened 600 at a time, one reading of 610 beside other work; registered referrals 460 to 547 to
 * 10,000), under the goal of 600 (README: Performance; bench/README.md: The cache against the goal); the full
 * benchmark's bursts (signups, a mass wake) took it to 612 and 633 MB at their peaks. 500 holds the
 * referrals a commerce backend's bursts keep active within minutes (the benchmark writes to 316 in turn); one out of
 * the cache replays its history on its next task, about 50 ms of worker CPU, and a mass wake (10,000 windows closing
 * together) replays with any cache short of 10,000.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 500;

/**
 * Workflow tasks the worker runs at once: the SDK's default, kept because 8 measured the same at 300 referrals
 * (bench/README.md). Local activities (registration, taking orders from the inbox, the claim's first write) hold their
 * task's slot; a worker whose tasks run long under load can take fewer, so tasks wait on the server instead of inside
 * it, against the task's 10 s timeout.
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
