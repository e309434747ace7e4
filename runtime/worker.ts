import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { classifyDatabaseFaults } from '../activities/database-faults';
import { createLedgerActivities } from '../activities/ledger';
import type { DB } from '../db/connection';
import { TASK_QUEUE } from '../workflows/shared';
import { buildWorkflowBundle } from './workflow-bundle';

/**
 * Referrals kept in memory between their workflow tasks. The SDK sizes its cache from the heap limit (about 2,300 on a
 * 4 GB heap), so every open referral stayed cached at about 0.4 MB each, and a thousand open held a gigabyte: the cache
 * was bounded at 250, about 100 MB. Since the pure workflow modules are shared by every workflow of the worker and the
 * bundle is built outside its process (workflow-bundle.ts), a ready service holds about 270 MB instead of 400 and a
 * cached referral 0.1 to 0.22 MB (scripts/bench/cache-memory.ts, README: What a cached referral costs), so 1,000 cost
 * about what 250 did. The price of a referral out of the cache is a replay of its history on its next task, about 50 ms
 * of worker CPU: with 316 referrals taking orders in turn, a cache of 250 replayed for nearly every order, and 1,000 for
 * none (README, Benchmark).
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 1000;

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
