import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActivities } from '../activities';
import { classifyDatabaseFaults } from '../activities/database-faults';
import { createLedgerActivities } from '../activities/ledger';
import type { DB } from '../db/connection';
import { TASK_QUEUE } from '../workflows/shared';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workflows/index.ts');

/** The referral worker: the workflow bundle (referrals and point lots) plus the activities over the given database. */
export async function createReferralWorker(options: {
  connection: NativeConnection;
  namespace: string;
  db: DB;
  taskQueue?: string;
  workflowBundle?: WorkerOptions['workflowBundle'];
}): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...createActivities({ db: options.db }),
      // a ledger write no retry can fix fails its lot's workflow, shown in the UI, instead of retrying for ever
      ...classifyDatabaseFaults(createLedgerActivities({ db: options.db })),
    },
  });
}
