import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { startApi } from '../../api/server';
import type { DB } from '../../db/connection';
import { connectTemporalClient } from '../../runtime/temporal-client';
import { startDevServer } from '../../runtime/temporal-dev-server';
import { createReferralWorker } from '../../runtime/worker';
import { createTestDatabase } from './database';
import { API_KEYS, httpClient } from './http';
import { freePort } from '../../runtime/free-port';

export interface Stack {
  http: ReturnType<typeof httpClient>;
  db: DB;
  temporal: Client;
  stop: () => Promise<void>;
}

/**
 * The embedded topology for end-to-end tests: a Temporal dev server (the CLI `npm start` uses), real PostgreSQL,
 * the worker and the HTTP API on a real port. The inbox relay runs fast so redelivery is observable.
 */
export async function startStack(): Promise<Stack> {
  const database = await createTestDatabase();
  const devServer = await startDevServer({ port: await freePort(), httpPort: await freePort(), metricsPort: await freePort() });
  const connection = await NativeConnection.connect({ address: devServer.address });
  const worker = await createReferralWorker({ connection, namespace: 'default', db: database.db });
  const workerRun = worker.run();
  const temporal = await connectTemporalClient({ address: devServer.address, namespace: 'default' });
  const api = await startApi({
    db: database.db,
    temporal,
    apiKeys: API_KEYS,
    port: 0,
    hostname: '127.0.0.1',
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    relay: { intervalMs: 250, olderThanMs: 500 },
  });
  return {
    http: httpClient((path, init) => fetch(`${api.url}${path}`, init)),
    db: database.db,
    temporal,
    stop: async () => {
      await api.stop();
      worker.shutdown();
      await workerRun;
      await connection.close();
      await temporal.connection.close();
      await devServer.stop();
      await database.drop();
    },
  };
}

/** Polls until `read` returns something `done` accepts; end-to-end state is eventually visible, not instantly. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}
