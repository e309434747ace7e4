/**
 * The baselines: what Temporal and PostgreSQL do on these servers at the same concurrency with nothing of the
 * product in the way. Their workflows (scripts/bench/workflows/) run on the benchmark's own worker and task queue;
 * their rows go to a schema of their own, so the product's footprint does not count them.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { WAKE_PHASES } from './cpu';
import { pollUntil, runClients, sleep, summarise, timed, type Call, type LatencySummary } from './load';
import {
  bumpSignal,
  countQuery,
  recordUpdate,
  signalCounter,
  timerWriter,
  updateRecorder,
  type BaselineActivities,
} from './workflows/baselines';

const WORKFLOWS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows/baselines.ts');
export const BASELINE_TASK_QUEUE = 'bench-baselines';
const SCHEMA = 'bench_baseline';

export interface RateFigure {
  count: number;
  ok: number;
  seconds: number;
  perSecond: number;
  latencyMs: LatencySummary;
}

export interface BaselineResults {
  workflowStarts: RateFigure;
  signalsAcknowledged: RateFigure;
  signalsProcessed: { count: number; processed: number; seconds: number; perSecond: number };
  updateWithStart: RateFigure;
  inserts: RateFigure;
  timers: {
    count: number;
    written: number;
    secondsAfterInstant: number | null;
    /** rows already written when the instant came: their timers started after it */
    writtenAtInstant: number;
    startedLate: number;
  };
}

export interface Baselines {
  run: (options: {
    referrals: number;
    /** timers due at one instant (the mass expiry's baseline) */
    timers: number;
    timersDeadlineMs: number;
    concurrency: number;
    inserts: number;
    deadlineMs: number;
    log: (line: string) => void;
    /** what failed or did not finish in time: the run fails */
    problems: string[];
    /** what qualifies a figure without failing the run */
    notes: string[];
  }) => Promise<BaselineResults>;
  /** workflow ids this run started, for a server the benchmark does not own */
  workflowIds: string[];
  stop: () => Promise<void>;
}

export const rate = (run: { count: number; ok: number; seconds: number; latencies: number[] }): RateFigure => ({
  count: run.count,
  ok: run.ok,
  seconds: run.seconds,
  perSecond: run.seconds > 0 ? run.ok / run.seconds : 0,
  latencyMs: summarise(run.latencies),
});

/** The baseline worker (its workflows bundled now) and the tables its activities write. */
export async function startBaselines(options: {
  temporal: Client;
  temporalAddress: string;
  namespace: string;
  databaseUrl: string;
  runTag: string;
}): Promise<Baselines> {
  const { temporal, runTag } = options;
  const admin = new pg.Client({ connectionString: options.databaseUrl });
  await admin.connect();
  try {
    await admin.query(`create schema if not exists ${SCHEMA}`);
    // Shaped like the inbox, constraints, defaults and indexes included.
    await admin.query(`create table if not exists ${SCHEMA}.inbox_like (like public.inbox_events including all)`);
    for (const table of ['update_rows', 'timer_rows']) {
      await admin.query(
        `create table if not exists ${SCHEMA}.${table} (key text primary key, written_at timestamptz not null default clock_timestamp())`,
      );
    }
  } finally {
    await admin.end();
  }
  // As many connections as the product's pool (createDatabase's default), for the activities.
  const activityPool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  const activities: BaselineActivities = {
    insertRow: async (table, key) => {
      await activityPool.query(`insert into ${SCHEMA}.${table} (key) values ($1) on conflict do nothing`, [key]);
    },
  };
  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  const worker = await Worker.create({
    connection,
    namespace: options.namespace,
    taskQueue: BASELINE_TASK_QUEUE,
    workflowsPath: WORKFLOWS,
    activities,
  });
  const running = worker.run();
  const workflowIds: string[] = [];
  const id = (kind: string, i: number | string) => {
    const workflowId = `bench-${runTag}-${kind}-${i}`;
    workflowIds.push(workflowId);
    return workflowId;
  };

  const run: Baselines['run'] = async ({
    referrals: n,
    timers,
    timersDeadlineMs,
    concurrency,
    inserts,
    deadlineMs,
    log,
    problems,
    notes,
  }) => {
    const clients = <T>(count: number, call: (i: number) => Promise<Call<T>>) =>
      runClients({ count, concurrency, deadlineMs, call });
    const note = (what: string, r: { failed: number; timedOut: boolean; errors: string[] }) => {
      if (r.failed > 0) problems.push(`${what}: ${r.failed} failed (${r.errors.join('; ')})`);
      if (r.timedOut) problems.push(`${what}: stopped at the ${deadlineMs / 1000} s deadline`);
    };

    // A little of each first, untimed: connections, JIT and the worker's caches warm.
    const warm = Math.min(n, concurrency);
    await clients(warm, async (i) => {
      const handle = await temporal.workflow.start(signalCounter, {
        taskQueue: BASELINE_TASK_QUEUE,
        workflowId: id('warm-signal', i),
      });
      await handle.signal(bumpSignal);
      await temporal.workflow.executeUpdateWithStart(recordUpdate, {
        args: [`warm-${runTag}-${i}`],
        startWorkflowOperation: new WithStartWorkflowOperation(updateRecorder, {
          taskQueue: BASELINE_TASK_QUEUE,
          workflowId: id('warm-update', i),
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      return { ok: true, ms: 0 };
    });

    // (a) one signal to each of n trivial workflows, as the product sends one order to each referral.
    log(`baseline: ${n} trivial workflows started, then one signal each`);
    const signalIds = Array.from({ length: n }, (_, i) => id('signal', i));
    const starts = await clients(n, (i) =>
      timed(() =>
        temporal.workflow.start(signalCounter, { taskQueue: BASELINE_TASK_QUEUE, workflowId: signalIds[i]! }),
      ),
    );
    note('raw workflow starts', starts);
    const sentFrom = Date.now();
    const signals = await clients(n, (i) => timed(() => temporal.workflow.getHandle(signalIds[i]!).signal(bumpSignal)));
    note('raw signals', signals);
    // Processed: each workflow's own clock when it took its signal, read by query once the signals are in.
    const processedAt = new Map<string, number>();
    const queryDeadline = performance.now() + deadlineMs;
    while (processedAt.size < signals.ok && performance.now() < queryDeadline) {
      const waiting = signalIds.filter((workflowId) => !processedAt.has(workflowId));
      await runClients({
        count: waiting.length,
        concurrency,
        deadlineMs: Math.max(0, queryDeadline - performance.now()),
        call: async (i) => {
          const answer = await temporal.workflow.getHandle(waiting[i]!).query(countQuery);
          if (answer.count > 0 && answer.firstAt !== null) processedAt.set(waiting[i]!, answer.firstAt);
          return { ok: true, ms: 0 };
        },
      });
      if (processedAt.size < signals.ok) await sleep(200);
    }
    if (processedAt.size < signals.ok)
      problems.push(`raw signals: ${signals.ok - processedAt.size} not processed within the deadline`);
    const lastProcessed = Math.max(sentFrom, ...processedAt.values());
    const processedSeconds = (lastProcessed - sentFrom) / 1000;

    // (b) update-with-start whose update writes one row through a local activity: a signup at its barest.
    log(`baseline: ${n} update-with-start calls`);
    const updates = await clients(n, (i) =>
      timed(() =>
        temporal.workflow.executeUpdateWithStart(recordUpdate, {
          args: [`${runTag}-${i}`],
          updateId: `record-${i}`,
          startWorkflowOperation: new WithStartWorkflowOperation(updateRecorder, {
            taskQueue: BASELINE_TASK_QUEUE,
            workflowId: id('update', i),
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        }),
      ),
    );
    note('raw update-with-start', updates);

    // (c) inbox-shaped rows straight into PostgreSQL, one statement each, one connection per client.
    log(`baseline: ${inserts} inbox-shaped inserts`);
    const insertPool = new pg.Pool({ connectionString: options.databaseUrl, max: concurrency });
    let insertRun;
    try {
      await Promise.all(Array.from({ length: concurrency }, () => insertPool.query('select 1')));
      insertRun = await clients(inserts, (i) => {
        const payload = {
          eventId: `${runTag}-raw-${i}`,
          orderId: `raw-${i}`,
          status: 'completed',
          amount: 1000,
          currency: 'INR',
          occurredAt: new Date().toISOString(),
          customerId: `raw-customer-${i}`,
        };
        return timed(() =>
          insertPool.query(
            `insert into ${SCHEMA}.inbox_like (kind, event_id, customer_id, order_id, payload, payload_hash)
             values ('order', $1, $2, $3, $4, $5) on conflict (kind, event_id) do nothing returning *`,
            [
              payload.eventId,
              payload.customerId,
              payload.orderId,
              JSON.stringify(payload),
              createHash('sha256').update(JSON.stringify(payload)).digest('hex'),
            ],
          ),
        );
      });
    } finally {
      await insertPool.end();
    }
    note('raw inserts', insertRun);

    // (d) `timers` timers due at one instant, each then writing one row through an activity. The instant leaves time to
    // start them all, at the start rate measured above.
    const startRate = starts.seconds > 0 ? starts.ok / starts.seconds : 50;
    const fireAt = Date.now() + Math.ceil((timers / startRate) * 1250) + 1500;
    log(`baseline: ${timers} timers due in ${((fireAt - Date.now()) / 1000).toFixed(1)} s, each writing a row`);
    let startedLate = 0;
    const timerStarts = await runClients({
      count: timers,
      concurrency,
      deadlineMs: timersDeadlineMs,
      call: (i) =>
        timed(async () => {
          await temporal.workflow.start(timerWriter, {
            taskQueue: BASELINE_TASK_QUEUE,
            workflowId: id('timer', i),
            args: [`${runTag}-${i}`, fireAt],
          });
          if (Date.now() > fireAt) startedLate += 1;
        }),
    });
    note('raw timer workflow starts', timerStarts);
    if (startedLate > 0) notes.push(`raw timers: ${startedLate} started after their instant (fired at once)`);
    await sleep(fireAt - Date.now());
    log(`${WAKE_PHASES.timers}: ${timerStarts.ok} rows to write`);
    const rowsWritten = async () => {
      const { rows } = await activityPool.query<{ n: string }>(`select count(*) as n from ${SCHEMA}.timer_rows`);
      return Number(rows[0]!.n);
    };
    // written before the instant (a timer started after it fires at once): not the wake's work
    const writtenAtInstant = await rowsWritten();
    const written = await pollUntil({
      read: rowsWritten,
      done: (count) => count >= timerStarts.ok,
      intervalMs: 50,
      timeoutMs: timersDeadlineMs,
    });
    if (!written.done) problems.push(`raw timers: ${timerStarts.ok - written.value} rows not written in time`);
    // The wake ends with the workflows' last tasks, after their rows, as the product's ends with its referrals'.
    const closed = await pollUntil({
      read: () => temporal.workflow.count(`WorkflowType = 'timerWriter' AND ExecutionStatus = 'Running'`),
      done: (running) => running.count === 0,
      intervalMs: 250,
      timeoutMs: 120_000,
    }).catch((error: unknown) => {
      notes.push(`raw timers: their workflows' close not read (${String(error)}); the wake's phase ends at the rows`);
      return null;
    });
    if (closed && !closed.done) notes.push('raw timers: some workflows still running 120 s after the last row');
    log(`baseline: the timers' wake is over; ${written.value} rows written`);

    return {
      workflowStarts: rate(starts),
      signalsAcknowledged: rate(signals),
      signalsProcessed: {
        count: signals.ok,
        processed: processedAt.size,
        seconds: processedSeconds,
        perSecond: processedSeconds > 0 ? processedAt.size / processedSeconds : 0,
      },
      updateWithStart: rate(updates),
      inserts: rate(insertRun),
      timers: {
        count: timerStarts.ok,
        written: written.value,
        secondsAfterInstant: written.done ? (written.epochMs - fireAt) / 1000 : null,
        writtenAtInstant,
        startedLate,
      },
    };
  };

  return {
    run,
    workflowIds,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await activityPool.end();
    },
  };
}
