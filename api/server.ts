/**
 * The API on its own (the production shape runs it as its own process):
 *   DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, API_KEYS, PORT.
 */
import { serve } from '@hono/node-server';
import { createDatabase, type DB } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { parseApiKeys, type ApiKey } from '../runtime/api-keys';
import { createLogger, type Logger } from '../runtime/logger';
import { connectTemporalClient, temporalSettingsFromEnv } from '../runtime/temporal-client';
import { TASK_QUEUE } from '../workflows/shared';
import { createApp } from './app';
import type { Client } from '@temporalio/client';
import { startInboxRelay } from './inbox-relay';
import { pathToFileURL } from 'node:url';

export interface RunningApi {
  url: string;
  stop: () => Promise<void>;
}

/** Serves the API and runs the inbox relay until stopped. */
export async function startApi(options: {
  db: DB;
  temporal: Client;
  apiKeys: ApiKey[];
  port: number;
  hostname?: string;
  logger: Logger;
  /** how often, and after how long, accepted events left undelivered are delivered again */
  relay?: { intervalMs?: number; olderThanMs?: number };
}): Promise<RunningApi> {
  const deps = {
    db: options.db,
    temporal: options.temporal,
    apiKeys: options.apiKeys,
    clock: () => new Date(),
    logger: options.logger,
    taskQueue: TASK_QUEUE,
  };
  const app = createApp(deps);
  const relay = startInboxRelay(deps, options.relay);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.hostname ?? '0.0.0.0' }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://localhost:${port}`,
    stop: async () => {
      await relay.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const logger = createLogger('api');
  const { DATABASE_URL, API_KEYS } = process.env;
  if (!DATABASE_URL || !API_KEYS) {
    logger.fatal('DATABASE_URL and API_KEYS are required');
    process.exit(2);
  }
  const db = createDatabase(DATABASE_URL);
  await migrateToLatest(db);
  const temporal = await connectTemporalClient(temporalSettingsFromEnv());
  const api = await startApi({ db, temporal, apiKeys: parseApiKeys(API_KEYS), port: Number(process.env.PORT ?? 3000), logger });
  logger.info({ url: api.url }, 'api listening');
  const shutdown = async () => {
    await api.stop();
    await temporal.connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
