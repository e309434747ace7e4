/**
 * Micro-benchmark of what a transition costs the caller: on a dev server (real time), N referrals one after another,
 * each claimed, then registered by the signup update (which answers once the registration is in the projection).
 * Fake activities, so the figures are the Temporal round trips alone.
 *
 *   npx tsx test/support/projection-latency.ts [N]
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { freePort } from '../../runtime/free-port';
import { startDevServer } from '../../runtime/temporal-dev-server';
import { cancelUpdate, registerUpdate } from '../../workflows/messages';
import { referralLifecycle } from '../../workflows/referral';
import { referralWorkflowId } from '../../workflows/shared';
import { fakeActivities } from './fake-activities';
import { TEST_TERMS } from './referral-scenario';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

const n = Number(process.argv[2] ?? 100);
Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
const devServer = await startDevServer({
  port: await freePort(),
  httpPort: await freePort(),
  metricsPort: await freePort(),
});
const connection = await NativeConnection.connect({ address: devServer.address });
const client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
const taskQueue = 'projection-latency';
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowsPath: WORKFLOW_BUNDLE_OPTIONS.workflowsPath,
  bundlerOptions: { preloadModules: WORKFLOW_BUNDLE_OPTIONS.preloadModules },
  activities: fakeActivities().activities,
});

const register: number[] = [];
const cancel: number[] = [];
let events = 0;
await worker.runUntil(async () => {
  for (let i = 0; i < n + 5; i++) {
    const referralId = randomUUID();
    const handle = await client.workflow.start(referralLifecycle, {
      taskQueue,
      workflowId: referralWorkflowId(referralId),
      args: [
        {
          referralId,
          program: { id: 'p', version: 1, currency: 'INR', terms: TEST_TERMS },
          code: 'ANNA2026',
          referrerId: 'anna',
          createdAt: new Date().toISOString(),
          origin: 'claim',
        },
      ],
    });
    let started = performance.now();
    await handle.executeUpdate(registerUpdate, {
      args: [{ eventId: randomUUID(), refereeId: `c-${i}`, occurredAt: new Date().toISOString() }],
    });
    const registered = performance.now() - started;
    started = performance.now();
    await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'bench' }] });
    const cancelled = performance.now() - started;
    await handle.result();
    if (i < 5) continue; // warm-up
    register.push(registered);
    cancel.push(cancelled);
    events += (await handle.fetchHistory()).events?.length ?? 0;
  }
});
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(1);
console.log(`register update: p50 ${pct(register, 50)} ms  p95 ${pct(register, 95)} ms`);
console.log(`cancel update:   p50 ${pct(cancel, 50)} ms  p95 ${pct(cancel, 95)} ms`);
console.log(`history: ${(events / n).toFixed(1)} events per referral (claim, register, cancel)`);
await devServer.stop();
process.exit(0);
