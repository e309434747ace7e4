import { Connection } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { startApi } from './api/serve';
import type { DB } from './db/connection';
import type { RelayPolicy } from './intake/inbox-relay';
import type { ApiKey } from './runtime/api-keys';
import type { Logger } from './runtime/logger';
import { DEFAULT_UNREFERRED_ORDER_RETENTION, ensureInboxRetentionSchedule } from './runtime/inbox-retention';
import { ensureSearchAttributes } from './runtime/search-attributes';
import { connectTemporalClient } from './runtime/temporal-client';
import { createReferralWorker } from './runtime/worker';

export interface RunningService {
  apiUrl: string;
  temporal: Client;
  /** API first, then the worker drains, then the connections close; the database and servers stay the caller's */
  stop: () => Promise<void>;
}

/**
 * The worker and the API in one process, over a migrated database and a reachable Temporal: what `npm start`,
 * the end-to-end tests and the benchmark all run.
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
}): Promise<RunningService> {
  const admin = await Connection.connect({ address: options.temporalAddress });
  try {
    await ensureSearchAttributes(admin, options.namespace);
  } finally {
    await admin.close();
  }

  const workerConnection = await NativeConnection.connect({ address: options.temporalAddress });
  const worker = await createReferralWorker({
    connection: workerConnection,
    namespace: options.namespace,
    db: options.db,
    maxCachedWorkflows: options.maxCachedWorkflows,
  });
  const workerRun = worker.run();
  let temporal: Client | undefined;
  let api: Awaited<ReturnType<typeof startApi>>;
  try {
    temporal = await connectTemporalClient({ address: options.temporalAddress, namespace: options.namespace });
    await ensureInboxRetentionSchedule(temporal, {
      retention: options.unreferredOrderRetention ?? DEFAULT_UNREFERRED_ORDER_RETENTION,
    });
    api = await startApi({
      db: options.db,
      temporal,
      apiKeys: options.apiKeys,
      port: options.port,
      hostname: options.hostname,
      logger: options.logger,
      relay: options.relay,
    });
  } catch (error) {
    // A port in use, say: stop what already runs, or the process would hang on a worker nobody stops.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun.catch(() => undefined);
    await workerConnection.close();
    await temporal?.connection.close();
    throw error;
  }
  return {
    apiUrl: api.url,
    temporal,
    stop: async () => {
      await api.stop();
      options.logger.info('API stopped');
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
      await workerConnection.close();
      await temporal.connection.close();
    },
  };
}
