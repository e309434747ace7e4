import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities';
import { classifyDatabaseFaults } from '../activities/database-faults';
import { createLedgerActivities } from '../activities/ledger';
import type { DB } from '../db/connection';
import { TASK_QUEUE } from '../workflows/shared';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/**
 * Referrals kept in memory between their workflow tasks. The SDK sizes its cache from the heap limit (about 2,300 on a
 * 4 GB heap), so every open referral stayed cached: measured with scripts/bench, 600 open referrals held 677 MB with
 * all of them cached and 445 MB with 50 (about 0.4 MB per cached referral), and a thousand held a gigabyte. 250 bounds
 * the cache at about 100 MB however many are open. The price: a referral out of the cache replays its history on its
 * next task, about 50 ms of worker CPU at 60 to 80 events; most open referrals wait days between tasks, and the few
 * tasks of one signup or one order follow each other within a second, so they stay cached.
 */
export const DEFAULT_MAX_CACHED_WORKFLOWS = 250;

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
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
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
