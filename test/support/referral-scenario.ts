import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { ensureSearchAttributes } from '../../runtime/search-attributes';
import { pointLotWorkflowId } from '../../workflows/lot-shared';
import { stateQuery } from '../../workflows/messages';
import { referralLifecycle, referralWorkflow } from '../../workflows/referral';
import {
  referralWorkflowId,
  type CarriedReferral,
  type OrderFacts,
  type ReferralInput,
  type ReferralSnapshot,
  type ReferralTerms,
} from '../../workflows/shared';
import { fakeActivities } from './fake-activities';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';
import { cliExecutable, testServerExecutable } from './temporal-binaries';

/**
 * The referral workflow on a time-skipping test server, one per test file (the server's time is shared by every test
 * in it), with a fresh worker, a unique id and typed fake activities per scenario.
 */

export const TEST_TERMS: ReferralTerms = {
  referralExpiry: '90 days',
  qualificationWindow: '30 days',
  minOrders: 1,
  minSpend: 50_000,
  rewardHold: '7 days',
};

export const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (message: string, meta?: unknown) => console.error(message, meta),
};

export type ScenarioOptions = {
  terms?: Partial<ReferralTerms>;
  origin?: ReferralInput['origin'];
  historyEventLimit?: number;
  /** starts the referral as a run carried over by continue-as-new, in this state (given the scenario's start) */
  carried?: (now: string, referralId: string) => CarriedReferral;
  fakes?: Parameters<typeof fakeActivities>[0];
  /** the first workflow type, which takes every change with its own marker, as referrals begun before v11 run */
  firstType?: boolean;
};

/**
 * Registers the file's beforeAll/afterAll and returns helpers bound to its environment. `server: 'dev'` runs the real
 * Temporal dev server instead, for scenarios that need no time skipping but the real server's semantics: the
 * time-skipping test server does not continue a workflow as new atomically, so a signal sent in that moment can be
 * lost.
 */
export function useReferralTestEnvironment(
  options: {
    server?: 'time-skipping' | 'dev';
    /** workflow interceptor modules bundled with the workflows, e.g. to widen a window between two steps */
    workflowInterceptorModules?: string[];
  } = {},
) {
  let env: TestWorkflowEnvironment;
  let workflowBundle: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    env = options.server === 'dev' ? await startDevServer() : await startTimeSkippingServer();
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
    workflowBundle = await bundleWorkflowCode({
      ...WORKFLOW_BUNDLE_OPTIONS,
      logger: quietLogger,
      ...(options.workflowInterceptorModules ? { workflowInterceptorModules: options.workflowInterceptorModules } : {}),
    });
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  async function nowIso(): Promise<string> {
    return new Date(await env.currentTimeMs()).toISOString();
  }

  async function scenario(
    options: ScenarioOptions,
    body: (ctx: {
      handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof referralLifecycle>>>;
      fakes: ReturnType<typeof fakeActivities>;
      input: ReferralInput;
    }) => Promise<void>,
  ): Promise<void> {
    const fakes = fakeActivities(options.fakes);
    const taskQueue = `referrals-test-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: fakes.activities,
    });
    const referralId = randomUUID();
    const input: ReferralInput = {
      referralId,
      program: { id: 'program-1', version: 1, currency: 'INR', terms: { ...TEST_TERMS, ...options.terms } },
      code: 'ANNA2026',
      referrerId: 'anna',
      createdAt: await nowIso(),
      origin: options.origin ?? 'claim',
      historyEventLimit: options.historyEventLimit,
    };
    if (options.carried) input.carried = options.carried(input.createdAt, referralId);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(options.firstType ? referralWorkflow : referralLifecycle, {
        taskQueue,
        workflowId: referralWorkflowId(referralId),
        args: [input],
      });
      try {
        await body({ handle, fakes, input });
      } finally {
        // A referral left running would fire its timers with no worker polling, and a workflow task or activity cut
        // off by a terminate holds the test server's time-skipping lock until it times out: let the projection catch
        // up with the workflow (it writes in the task after each decision) and activities finish, then terminate.
        // The lots it started outlive it (abandoned children). The fakes credit them as expiring at once, so they end by
        // themselves: let them, since an activity cut off by a terminate or a worker shutdown holds the time-skipping
        // lock until it times out; terminate only one that does not end.
        for (const kind of ['referral', 'milestone']) {
          const lot = env.client.workflow.getHandle(pointLotWorkflowId(`${kind}-${referralId}`));
          // polled with describe: a result() call would take part in the test server's time-skipping locks
          let ended = false;
          for (let i = 0; i < 150 && !ended; i++) {
            ended = await lot.describe().then(
              (d) => d.status.name !== 'RUNNING',
              () => true,
            );
            if (!ended) await new Promise((resolve) => setTimeout(resolve, 20));
          }
          if (!ended) await lot.terminate('scenario finished').catch(() => undefined);
        }
        // the referral's own tasks for its children's events: none may be cut off by the terminate
        for (let i = 0; i < 100; i++) {
          const raw = (await handle.describe().catch(() => undefined))?.raw;
          if (!raw || (!raw.pendingWorkflowTask && (raw.pendingChildren?.length ?? 0) === 0)) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await projectionCaughtUp(handle, fakes, 2_000).catch(() => undefined);
        for (let i = 0; i < 100 && fakes.inFlight() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        await handle.terminate('scenario finished').catch(() => undefined);
      }
    });
  }

  async function signup(eventId: string = randomUUID(), refereeId = 'ben') {
    return { eventId, refereeId, email: 'ben@example.com', occurredAt: await nowIso() };
  }

  async function order(orderId: string, status: OrderFacts['status'], amount = 60_000): Promise<OrderFacts> {
    return { eventId: randomUUID(), orderId, status, amount, currency: 'INR', occurredAt: await nowIso() };
  }

  return {
    /** the environment, once beforeAll has run */
    get env() {
      return env;
    },
    /** the workflows as the scenarios' workers run them, to replay a scenario's history */
    get workflowBundle() {
      return workflowBundle;
    },
    nowIso,
    scenario,
    signup,
    order,
  };
}

async function startDevServer(): Promise<TestWorkflowEnvironment> {
  const executable = cliExecutable();
  return startedWithin(5, () => TestWorkflowEnvironment.createLocal(executable ? { server: { executable } } : {}));
}

/**
 * The SDK gives a new test server 5 s to answer; two JVMs starting at once on a busy 2-core machine can take longer.
 * A slow start is not a failure of the code under test: try again.
 */
export async function startTimeSkippingServer(attempts = 5): Promise<TestWorkflowEnvironment> {
  const executable = testServerExecutable();
  return startedWithin(attempts, () =>
    TestWorkflowEnvironment.createTimeSkipping(executable ? { server: { executable } } : {}),
  );
}

async function startedWithin(
  attempts: number,
  start: () => Promise<TestWorkflowEnvironment>,
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= attempts || !/did not start within/.test(String(error))) throw error;
      // the machine is busy: give it a moment before the next JVM or server starts
      await new Promise((resolve) => setTimeout(resolve, attempt * 2_000));
    }
  }
}

/**
 * Waits until the fakes have projected the workflow's latest timeline entry: the projection is written in the
 * workflow task after the decision, so it trails the live state by a moment.
 */
export async function projectionCaughtUp(
  handle: ReferralHandle,
  fakes: ReturnType<typeof fakeActivities>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await handle.query(stateQuery);
    const latest = state.recentTimeline.at(-1)?.seq ?? 0;
    if (fakes.inFlight() === 0 && fakes.projections.some((p) => p.entry.seq === latest)) return;
    if (Date.now() > deadline)
      throw new Error(`the projection never reached seq ${latest}: ${JSON.stringify(fakes.kinds())}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

type ReferralHandle = { query: (query: typeof stateQuery) => Promise<ReferralSnapshot> };

/** The activity types the referral's workflow scheduled, in order, from its history. */
export async function scheduledActivities(handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

/** Polls the live state for up to `withinMs` of wall-clock time (queries slow down on a busy machine). */
export async function waitForState(
  handle: ReferralHandle,
  done: (state: ReferralSnapshot) => boolean,
  withinMs = 20_000,
) {
  const deadline = Date.now() + withinMs;
  let state = await handle.query(stateQuery);
  while (!done(state) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    state = await handle.query(stateQuery);
  }
  if (!done(state)) throw new Error(`referral never reached the expected state: ${JSON.stringify(state)}`);
  return state;
}

export const waitForStatus = (handle: ReferralHandle, status: ReferralSnapshot['status']) =>
  waitForState(handle, (state) => state.status === status);
