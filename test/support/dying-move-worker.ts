/**
 * A referral worker in a process of its own, over real PostgreSQL, whose moves die with it: its moveReferralToTerms
 * says `stepping <referralId>` on stdout and never goes on, as a worker killed (SIGKILL) in the middle of a move's
 * step. No workflow is kept in its cache, so none waits on its sticky queue once it is gone.
 *
 *   tsx test/support/dying-move-worker.ts <temporal address> <task queue> <database url> <workflow bundle file>
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { MoveReferralInput } from '../../activities/term-moves';
import { createDatabase } from '../../db/connection';

const [address, taskQueue, databaseUrl, bundleFile] = process.argv.slice(2);
if (!address || !taskQueue || !databaseUrl || !bundleFile)
  throw new Error('usage: dying-move-worker <address> <taskQueue> <databaseUrl> <bundleFile>');

Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
const db = createDatabase(databaseUrl, { max: 2 });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath: bundleFile },
  maxCachedWorkflows: 0,
  activities: {
    ...createActivities({ db }),
    moveReferralToTerms: async (input: MoveReferralInput) => {
      console.log(`stepping ${input.referralId}`);
      return new Promise<never>(() => {});
    },
  },
});
console.log('ready');
await worker.run();
