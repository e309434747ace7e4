import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { startApi } from './api/serve';
import type { DB } from './db/connection';
import type { RelayPolicy } from './intake/inbox-relay';
import type { ApiKey } from './runtime/api-keys';
import type { Logger } from './runtime/logger';
import {
  connectTemporal,
  isTemporalTransient,
  keepTrying,
  retrying,
  withinTry,
  type BackgroundTask,
} from './runtime/dependencies';
import {
  DEFAULT_UNREFERRED_ORDER_RETENTION,
  ensureInboxRetentionSchedule,
  requireRetention,
} from './runtime/inbox-retention';
import { ensureSearchAttributes } from './runtime/search-attributes';
import { createReferralWorker } from './runtime/worker';
import { buildWorkflowBundle } from './runtime/workflow-bundle';

export const DEFAULT_TEMPORAL_WAIT_MS = 60_000;

export interface RunningService {
  apiUrl: string;
  temporal: Client;
  /** API first, then the worker drains, then the connections close; the database and servers stay the caller's */
  stop: () => Promise<void>;
}

/**
 * The worker and the API in one process, over a migrated database and a Temporal it waits for if it does not answer
 * yet: what `npm start`, the end-to-end tests and the benchmark all run.
 */
export async function startReferralService(options: {
  db: DB;
  temporalAddress: string;
  namespace: string;
  apiKeys: ApiKey[];
  port: number;
  hostname?: string | undefined;
  logger: Logger;
  relay?: ({ intervalMs?: number } & Partial<RelayPolicy>) | undefined;
  /** how long orders of customers nobody referred are kept (the inbox-retention schedule) */
  unreferredOrderRetention?: string | undefined;
  /** referrals the worker keeps in memory; runtime/worker.ts's default when left out */
  maxCachedWorkflows?: number | undefined;
  /** workflow tasks the worker runs at once; runtime/worker.ts's default when left out */
  maxConcurrentWorkflowTasks?: number | undefined;
  /** a stop asked for while starting: ends the wait for a Temporal that does not answer yet, and the bundle's build */
  signal?: AbortSignal | undefined;
  /** how long a Temporal that does not answer is waited for before the start fails; a minute when left out */
  temporalWaitMs?: number | undefined;
}): Promise<RunningService> {
  const retention = requireRetention(options.unreferredOrderRetention ?? DEFAULT_UNREFERRED_ORDER_RETENTION);
  const { logger } = options;
  // Bounded, unlike the worker's and the API's own processes: `npm start` stops on a signal only once its start settles.
  const waiting = { logger, signal: options.signal, giveUpAfterMs: options.temporalWaitMs ?? DEFAULT_TEMPORAL_WAIT_MS };
  const temporalCall = { ...waiting, isTransient: isTemporalTransient };
  const connection = await connectTemporal({
    ...waiting,
    address: options.temporalAddress,
    namespace: options.namespace,
  });
  const temporal = new Client({ connection, namespace: options.namespace });
  let workerConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let schedule: BackgroundTask | undefined;
  try {
    await retrying(
      'registering the search attributes',
      () => withinTry(connection, () => ensureSearchAttributes(connection, options.namespace)),
      temporalCall,
    );
    const nativeConnection = await retrying(
      'connecting the worker',
      () => NativeConnection.connect({ address: options.temporalAddress }),
      temporalCall,
    );
    workerConnection = nativeConnection;
    // built once, outside the retries: a Temporal that is slow to take the worker costs no second build
    options.signal?.throwIfAborted();
    logger.info('building the workflow bundle');
    const workflowBundle = await buildWorkflowBundle({ signal: options.signal });
    worker = await retrying(
      'creating the worker',
      () =>
        createReferralWorker({
          connection: nativeConnection,
          namespace: options.namespace,
          db: options.db,
          workflowBundle,
          maxCachedWorkflows: options.maxCachedWorkflows,
          maxConcurrentWorkflowTasks: options.maxConcurrentWorkflowTasks,
        }),
      temporalCall,
    );
    workerRun = worker.run();
    // a stop asked for while the worker was created: no API is started only to be stopped (the catch stops the worker)
    options.signal?.throwIfAborted();
    // Beside the service, not before it: see worker.ts.
    schedule = keepTrying(
      'ensuring the inbox retention schedule',
      () => withinTry(connection, () => ensureInboxRetentionSchedule(temporal, { retention })),
      { logger },
    );
    const api = await startApi({
      db: options.db,
      temporal,
      apiKeys: options.apiKeys,
      port: options.port,
      hostname: options.hostname,
      logger,
      relay: options.relay,
    });
    const [running, runningSchedule, connected] = [worker, schedule, workerConnection];
    return {
      apiUrl: api.url,
      temporal,
      stop: async () => {
        await api.stop();
        logger.info('API stopped');
        await runningSchedule.stop();
        if (running.getState() === 'RUNNING') running.shutdown();
        await workerRun;
        await connected.close();
        await connection.close();
      },
    };
  } catch (error) {
    // A port in use, say: stop what already runs, or the process would hang on a worker nobody stops.
    await schedule?.stop();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun?.catch(() => undefined);
    await workerConnection?.close();
    await connection.close();
    throw error;
  }
}
