/**
 * The product under test, as `npm start` runs it (service.ts: the worker and the API in one process), in a process
 * of its own: its RSS is the service's alone, and the load the benchmark generates does not share its event loop. With
 * `part`, only the worker or only the API, as the production shape runs them (worker.ts, api/server.ts).
 * Driven by the benchmark over IPC: `start` → `ready` (or `failed`), `memory` → `memory`, `loop-delay` → `loop-delay`,
 * `worker-metrics` → `worker-metrics` (the SDK's metrics, served at WORKER_METRICS_ADDRESS), `stop` → `stopped`.
 */
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { startApi } from '../../api/serve';
import { createDatabase, poolUse } from '../../db/connection';
import type { ApiKey } from '../../runtime/api-keys';
import { loadConfig } from '../../runtime/config';
import { connectTemporal } from '../../runtime/dependencies';
import { ensureSearchAttributes } from '../../runtime/search-attributes';
import { installTemporalRuntime } from '../../runtime/temporal-runtime';
import { createReferralWorker } from '../../runtime/worker';
import { startReferralService, type RunningService } from '../../service';
import { sumPrometheusText, type MetricTotals } from './worker-metrics';

export type ServiceRequest =
  | {
      type: 'start';
      databaseUrl: string;
      temporalAddress: string;
      namespace: string;
      apiKeys: ApiKey[];
      part?: ServicePart | undefined;
    }
  /** `collect`: a full collection of the main thread's heap first, to tell its live objects from its garbage */
  | { type: 'memory'; collect?: boolean }
  | { type: 'loop-delay' }
  | { type: 'worker-metrics' }
  | { type: 'stop' };

export type ServicePart = 'worker' | 'api';

/** The process's resident memory and what the main thread's V8 heap and its buffers hold of it (report.ts splits it). */
export interface ServiceMemory {
  rss: number;
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  /** the main thread's heap still in use after a full collection, when one was asked for */
  heapLive?: number;
  /** memory outside the heap held by the main thread's objects: Buffers and ArrayBuffers (the pg driver's, HTTP's) */
  external: number;
  pool: PoolUse;
}

export type ServiceReply =
  | { type: 'ready'; apiUrl: string | null }
  | { type: 'failed'; message: string }
  | ({ type: 'memory' } & ServiceMemory)
  | { type: 'loop-delay'; delay: LoopDelay }
  | { type: 'worker-metrics'; totals: MetricTotals | null; error?: string }
  | { type: 'stopped' };

/**
 * How late the main thread's event loop ran since the last ask: every request, its answer and the worker's activities
 * wait this long for the thread. A 202 cannot be faster than the loop lets it be.
 */
export interface LoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The service's database pool, sampled every 250 ms while the service runs. */
export interface PoolUse {
  size: number;
  samples: number;
  /** samples in which at least one query waited for a connection */
  samplesWaiting: number;
  maxWaiting: number;
  maxTotal: number;
}

// Errors only, on stderr: the benchmark keeps them in a file and shows them when the service fails.
const logger = pino({ level: 'error' }, pino.destination(2));
// Read before the start request, which carries no settings of the runtime: the runtime is installed once, now.
const { workerMetricsAddress } = loadConfig();
installTemporalRuntime(logger, 'ERROR', { shutdownSignals: [], metricsAddress: workerMetricsAddress });

/** The worker's metrics summed by name, or null where none are served (the API alone, or no address set). */
async function readWorkerMetrics(): Promise<MetricTotals | null> {
  if (!workerMetricsAddress) return null;
  const response = await fetch(`http://${workerMetricsAddress}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`worker metrics answered ${response.status}`);
  return sumPrometheusText(await response.text());
}

const send = (reply: ServiceReply) => process.send?.(reply);
let service: Pick<RunningService, 'stop'> | undefined;
let db: ReturnType<typeof createDatabase> | undefined;
let stopping: Promise<void> | undefined;

// The peak since the service was ready: the start's workflow bundling is not the service's working size.
let peakRss = 0;
const pool: PoolUse = { size: 0, samples: 0, samplesWaiting: 0, maxWaiting: 0, maxTotal: 0 };
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const ms = (nanoseconds: number) => Math.round(nanoseconds / 1e4) / 100;
const sampler = setInterval(() => {
  if (!service) return;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const use = db ? poolUse(db) : undefined;
  if (!use) return;
  pool.size = use.size;
  pool.samples += 1;
  if (use.waiting > 0) pool.samplesWaiting += 1;
  pool.maxWaiting = Math.max(pool.maxWaiting, use.waiting);
  pool.maxTotal = Math.max(pool.maxTotal, use.total);
}, 250);

async function stop(): Promise<void> {
  stopping ??= (async () => {
    clearInterval(sampler);
    await service?.stop().catch((error: unknown) => logger.error({ err: error }, 'service did not stop cleanly'));
    await db?.destroy().catch(() => undefined);
  })();
  return stopping;
}

process.on('message', (message: ServiceRequest) => {
  if (message.type === 'start') {
    // What npm start gives the service: the defaults, or DATABASE_POOL_SIZE and WORKER_MAX_CACHED_WORKFLOWS.
    const config = loadConfig();
    const started = startPart(
      message,
      config,
      (db = createDatabase(message.databaseUrl, { max: config.databasePoolSize })),
    );
    started.then(
      (running) => {
        service = running;
        peakRss = process.memoryUsage.rss();
        // The API names itself `localhost`, which may resolve to ::1 first; it listens on 127.0.0.1.
        send({ type: 'ready', apiUrl: running.apiUrl?.replace('//localhost:', '//127.0.0.1:') ?? null });
      },
      (error: unknown) => send({ type: 'failed', message: error instanceof Error ? error.message : String(error) }),
    );
  } else if (message.type === 'memory') {
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    // --expose-gc (see stack.ts); read after the figures above, which are what the process held
    const collect = message.collect ? (globalThis as { gc?: () => void }).gc : undefined;
    collect?.();
    const heapLive = collect ? process.memoryUsage().heapUsed : undefined;
    send({
      type: 'memory',
      rss,
      peakRss,
      heapUsed,
      heapTotal,
      ...(heapLive === undefined ? {} : { heapLive }),
      external,
      pool: { ...pool },
    });
  } else if (message.type === 'loop-delay') {
    const delay = {
      p50Ms: ms(loopDelay.percentile(50)),
      p99Ms: ms(loopDelay.percentile(99)),
      maxMs: ms(loopDelay.max),
    };
    loopDelay.reset();
    send({ type: 'loop-delay', delay });
  } else if (message.type === 'worker-metrics') {
    readWorkerMetrics().then(
      (totals) => send({ type: 'worker-metrics', totals }),
      // not `failed`: that answers every request waiting on this process
      (error: unknown) => send({ type: 'worker-metrics', totals: null, error: String(error) }),
    );
  } else if (message.type === 'stop') {
    void stop().then(() => {
      send({ type: 'stopped' });
      process.exit(0);
    });
  }
});

type StartRequest = Extract<ServiceRequest, { type: 'start' }>;

/** The service, or the one part of it asked for, started as its own entry point starts it. */
async function startPart(
  request: StartRequest,
  config: ReturnType<typeof loadConfig>,
  database: ReturnType<typeof createDatabase>,
): Promise<{ apiUrl: string | undefined; stop: () => Promise<void> }> {
  const { temporalAddress: address, namespace, apiKeys } = request;
  if (request.part === 'api') {
    const temporal = new Client({ connection: await connectTemporal({ address, namespace, logger }), namespace });
    const api = await startApi({ db: database, temporal, apiKeys, port: 0, hostname: '127.0.0.1', logger });
    return {
      apiUrl: api.url,
      stop: async () => {
        await api.stop();
        await temporal.connection.close();
      },
    };
  }
  if (request.part === 'worker') {
    // Workflows upsert the referral search attributes: they exist before the first task runs, as worker.ts sees to.
    const admin = await connectTemporal({ address, namespace, logger });
    await ensureSearchAttributes(admin, namespace);
    await admin.close();
    const connection = await NativeConnection.connect({ address });
    const worker = await createReferralWorker({
      connection,
      namespace,
      db: database,
      maxCachedWorkflows: config.workerMaxCachedWorkflows,
      maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
    });
    const run = worker.run();
    return {
      apiUrl: undefined,
      stop: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run;
        await connection.close();
      },
    };
  }
  return startReferralService({
    db: database,
    temporalAddress: address,
    namespace,
    apiKeys,
    port: 0,
    hostname: '127.0.0.1',
    logger,
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
  });
}

// The benchmark died or let go of us: nothing will stop us otherwise.
process.on('disconnect', () => {
  void stop().then(() => process.exit(0));
});
