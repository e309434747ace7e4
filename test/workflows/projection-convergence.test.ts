import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectReferralInput } from '../../activities/referrals';
import { freePort } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { orderSignal, registerUpdate, stateQuery } from '../../workflows/messages';
import { referralLifecycle } from '../../workflows/referral';
import { referralWorkflowId, type OrderFacts, type ReferralInput, type ReferralSnapshot } from '../../workflows/shared';
import { fakeActivities, projectedState } from '../support/fake-activities';
import { quietLogger, TEST_TERMS } from '../support/referral-scenario';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

/**
 * A worker that dies inside a workflow task, after its local activity wrote to the projection: the dev server (real
 * time, real workflow task timeouts) hands the task to a second worker sharing the same recorded projection store.
 */
const DYING_WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/dying-worker.ts');

let devServer: DevServer;
let nativeConnection: NativeConnection;
let client: Client;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  devServer = await startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
  nativeConnection = await NativeConnection.connect({ address: devServer.address });
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
  workflowBundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietLogger });
}, 120_000);

afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
  await devServer?.stop();
});

const order = (orderId: string, status: OrderFacts['status'], amount = 60_000): OrderFacts => ({
  eventId: randomUUID(),
  orderId,
  status,
  amount,
  currency: 'INR',
  occurredAt: new Date().toISOString(),
});

/** `hangOn`: a status, or `kind:<entry kind>` (test/support/dying-worker.ts) */
async function startDyingWorker(
  taskQueue: string,
  store: string,
  hangOn: string,
  earlyOrders: OrderFacts[],
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      DYING_WORKER,
      devServer.address,
      taskQueue,
      store,
      hangOn,
      ...(earlyOrders.length > 0 ? [JSON.stringify(earlyOrders)] : []),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dying worker exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  return child;
}

async function readStore(store: string): Promise<ProjectReferralInput[]> {
  const text = await readFile(store, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ProjectReferralInput);
}

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

/**
 * A referral registered on a worker that dies once it has written a projection matching `hangOn` (a status, or
 * `kind:<entry kind>`), and the worker that takes over on the same recorded store. `earlyOrders`: orders kept in the
 * inbox before the signup, which the registration takes (the registration is then not waited for: its task may be
 * the one that dies).
 */
async function registeredOnDyingWorker(hangOn: string, earlyOrders: OrderFacts[] = []) {
  const store = path.join(await mkdtemp(path.join(tmpdir(), 'referral-projection-')), 'projections.jsonl');
  await writeFile(store, '');
  const taskQueue = `referrals-convergence-${randomUUID()}`;
  const dying = await startDyingWorker(taskQueue, store, hangOn, earlyOrders);
  const referralId = randomUUID();
  const input: ReferralInput = {
    referralId,
    program: { id: 'program-1', version: 1, currency: 'INR', terms: TEST_TERMS },
    code: 'ANNA2026',
    referrerId: 'anna',
    createdAt: new Date().toISOString(),
    origin: 'claim',
  };
  const handle = await client.workflow.start(referralLifecycle, {
    taskQueue,
    workflowId: referralWorkflowId(referralId),
    args: [input],
    // Short, so the second worker takes over within seconds. Were the write a local activity, the worker is killed
    // well before 80% of it, when the SDK would heartbeat the task (completing it, which is a task boundary too).
    workflowTaskTimeout: '4s',
  });
  const takeOver = async () => {
    const projections = await readStore(store);
    const worker = await Worker.create({
      connection: nativeConnection,
      taskQueue,
      workflowBundle,
      activities: fakeActivities({ projections, earlyOrders }).activities,
    });
    return { projections, worker };
  };
  const stop = async () => {
    dying.kill('SIGKILL');
    await handle.terminate('test finished').catch(() => undefined);
  };
  try {
    const registered = handle.executeUpdate(registerUpdate, {
      args: [{ eventId: randomUUID(), refereeId: 'ben', occurredAt: new Date().toISOString() }],
    });
    if (earlyOrders.length === 0) await registered;
    else registered.catch(() => undefined);
  } catch (error) {
    await stop();
    throw error;
  }
  return { store, dying, handle, takeOver, stop };
}

/**
 * The second worker takes over after the first wrote a count of 1 and died; the refund means the retry counts nothing.
 * Its correction must land on the lost count's seq, and the projection then shows the workflow's own state.
 */
async function expectLostCountCorrected(
  { projections, worker }: { projections: ProjectReferralInput[]; worker: Worker },
  handle: { query: (query: typeof stateQuery) => Promise<ReferralSnapshot> },
): Promise<void> {
  const lostCount = projections.find((w) => w.entry.kind === 'orders_counted')!;
  expect(lostCount).toMatchObject({ referral: { progress: { countedOrders: 1 } } });
  const final = await worker.runUntil(async () => {
    const converged = (s: ReferralSnapshot) => {
      const { row } = projectedState(projections);
      return s.recentTimeline.at(-1)?.seq === lostCount.entry.seq && row?.entry.seq === lostCount.entry.seq;
    };
    return until(() => handle.query(stateQuery), converged, 30_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; projection: ${JSON.stringify(projectedState(projections))}`);
    });
  });
  const { row, timeline } = projectedState(projections);
  expect(final).toMatchObject({ status: 'registered', progress: { countedOrders: 0, countedSpend: 0 } });
  expect(row?.referral.progress).toEqual(final.progress);
  expect(timeline).toEqual(final.recentTimeline);
}

describe('the projection after a lost workflow task', () => {
  it('given a worker that wrote `qualified` to the projection and died mid-task, when a refund arrived meanwhile, then the projection converges to the workflow’s own state', async () => {
    // Worker 1 writes `qualified` to the store, then its local activity never returns, and then it is killed.
    const { store, dying: worker1, handle, takeOver, stop } = await registeredOnDyingWorker('qualified');
    try {
      await handle.signal(orderSignal, order('o-1', 'completed'));
      await until(
        () => readStore(store),
        (writes) => writes.some((w) => w.referral.status === 'qualified'),
        10_000,
      );
      await handle.signal(orderSignal, order('o-1', 'refunded'));
      worker1.kill('SIGKILL');

      // Worker 2 takes over after the task timeout, on the same store.
      const { projections, worker: worker2 } = await takeOver();
      const final = await worker2.runUntil(async () => {
        const converged = (s: ReferralSnapshot) => {
          const { row } = projectedState(projections);
          return s.status === 'registered' && row?.entry.seq === s.recentTimeline.at(-1)?.seq;
        };
        return until(() => handle.query(stateQuery), converged, 30_000).catch(async (error: unknown) => {
          throw new Error(`${String(error)}; projection: ${JSON.stringify(projectedState(projections))}`);
        });
      });

      const { row, timeline } = projectedState(projections);
      expect(final).toMatchObject({ status: 'registered', qualifiedAt: null, progress: { countedOrders: 0 } });
      expect(row?.referral).toMatchObject({
        status: final.status,
        qualifiedAt: final.qualifiedAt,
        deadlines: final.deadlines,
        progress: final.progress,
      });
      // Every entry the projection shows is one the workflow recorded, and none is missing.
      expect(timeline).toEqual(final.recentTimeline);
    } finally {
      await stop();
    }
  }, 90_000);
  it('given a worker that wrote counted progress (in its task, by a local activity) and died mid-task, when a refund arrived meanwhile so the retry counts nothing, then the retry writes over that count and the projection converges', async () => {
    const { store, dying: worker1, handle, takeOver, stop } = await registeredOnDyingWorker('kind:orders_counted');
    try {
      // counts, below the minimum spend: progress, no status change
      await handle.signal(orderSignal, order('o-1', 'completed', 10_000));
      await until(
        () => readStore(store),
        (writes) => writes.some((w) => w.entry.kind === 'orders_counted'),
        10_000,
      );
      await handle.signal(orderSignal, order('o-1', 'refunded', 10_000));
      worker1.kill('SIGKILL');

      await expectLostCountCorrected(await takeOver(), handle);
    } finally {
      await stop();
    }
  }, 90_000);
  it('given a worker that counted an order kept before the signup and died mid-task, when its refund was signalled meanwhile (taken first by the retry), then the retry corrects the count and the projection converges', async () => {
    // reported before the signup, dated after it (the signup itself was reported late): it counts
    const completed = { ...order('o-1', 'completed', 10_000), occurredAt: new Date(Date.now() + 30_000).toISOString() };
    const {
      store,
      dying: worker1,
      handle,
      takeOver,
      stop,
    } = await registeredOnDyingWorker('kind:orders_counted', [completed]);
    try {
      await until(
        () => readStore(store),
        (writes) => writes.some((w) => w.entry.kind === 'orders_counted'),
        20_000,
      );
      const refunded = order('o-1', 'refunded', 10_000);
      await handle.signal(orderSignal, {
        ...refunded,
        occurredAt: new Date(Date.parse(completed.occurredAt) + 1_000).toISOString(),
      });
      worker1.kill('SIGKILL');

      await expectLostCountCorrected(await takeOver(), handle);
    } finally {
      await stop();
    }
  }, 90_000);
});
