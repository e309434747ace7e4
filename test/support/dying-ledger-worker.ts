/**
 * A worker in a process of its own whose ledger writes are real (PostgreSQL at the given URL) and whose
 * creditPointLot, once its write has committed, never reports back: the worker is about to be killed (SIGKILL) between
 * the ledger write and the completion of the task that asked for it. It appends the lot it wrote to `markerFile`.
 *
 *   tsx test/support/dying-ledger-worker.ts <temporal address> <task queue> <database url> <marker file>
 */
import { appendFileSync } from 'node:fs';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createLedgerActivities } from '../../activities/ledger';
import { createDatabase } from '../../db/connection';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

const [address, taskQueue, databaseUrl, markerFile] = process.argv.slice(2);
if (!address || !taskQueue || !databaseUrl || !markerFile)
  throw new Error('usage: dying-ledger-worker <address> <taskQueue> <databaseUrl> <markerFile>');

Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
const db = createDatabase(databaseUrl, { max: 2 });
const ledger = createLedgerActivities({ db });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: WORKFLOW_BUNDLE_OPTIONS.workflowsPath,
  bundlerOptions: { preloadModules: WORKFLOW_BUNDLE_OPTIONS.preloadModules },
  activities: {
    ...createActivities({ db }),
    ...ledger,
    creditPointLot: async (request: Parameters<typeof ledger.creditPointLot>[0]) => {
      const lot = await ledger.creditPointLot(request);
      appendFileSync(markerFile, `${JSON.stringify(lot)}\n`);
      return new Promise<never>(() => {});
    },
  },
});
console.log('ready');
await worker.run();
