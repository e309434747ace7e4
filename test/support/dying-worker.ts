/**
 * A referral worker in a process of its own, for tests that kill it mid-task (SIGKILL: no graceful shutdown, no
 * workflow task completed on the way out). Its projectReferral appends each write to a JSON-lines file (the "database"
 * the test reads) and, once it has written a referral in `hangOn` (a status, or `kind:<entry kind>`), never returns:
 * the worker is dying.
 *
 *   tsx test/support/dying-worker.ts <temporal address> <task queue> <store file> <hangOn> [<early orders, JSON>]
 */
import { appendFileSync } from 'node:fs';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { OrderFacts } from '../../workflows/shared';
import { fakeActivities } from './fake-activities';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

const [address, taskQueue, storeFile, hangOn, earlyOrders] = process.argv.slice(2);
if (!address || !taskQueue || !storeFile || !hangOn)
  throw new Error('usage: dying-worker <address> <taskQueue> <storeFile> <status | kind:<kind>>');
const hangsAfter = (write: { referral: { status: string }; entry: { kind: string } }) =>
  hangOn.startsWith('kind:') ? write.entry.kind === hangOn.slice('kind:'.length) : write.referral.status === hangOn;

Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
const fakes = fakeActivities({
  earlyOrders: earlyOrders ? (JSON.parse(earlyOrders) as OrderFacts[]) : [],
  afterProjection: async (write) => {
    appendFileSync(storeFile, `${JSON.stringify(write)}\n`);
    if (hangsAfter(write)) await new Promise<never>(() => {});
  },
});
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: WORKFLOW_BUNDLE_OPTIONS.workflowsPath,
  bundlerOptions: { preloadModules: WORKFLOW_BUNDLE_OPTIONS.preloadModules },
  activities: fakes.activities,
});
console.log('ready');
await worker.run();
