import type { Client } from '@temporalio/client';
import pino from 'pino';
import type { DB } from '../../db/connection';
import { startReferralService } from '../../service';
import { startDevServer } from '../../runtime/temporal-dev-server';
import { createTestDatabase } from './database';
import { API_KEYS, httpClient } from './http';
import { onFreePorts } from '../../runtime/free-port';

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
  const devServer = await onFreePorts(3, ([port, httpPort, metricsPort]) =>
    startDevServer({ port: port!, httpPort: httpPort!, metricsPort: metricsPort! }),
  );
  const service = await startReferralService({
    db: database.db,
    temporalAddress: devServer.address,
    namespace: 'default',
    apiKeys: API_KEYS,
    port: 0,
    hostname: '127.0.0.1',
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    relay: { intervalMs: 250, olderThanMs: 500 },
  });
  return {
    http: httpClient((path, init) => fetch(`${service.apiUrl}${path}`, init)),
    db: database.db,
    temporal: service.temporal,
    stop: async () => {
      await service.stop();
      await devServer.stop();
      await database.drop();
    },
  };
}

/** Polls until `read` returns something `done` accepts; end-to-end state is eventually visible, not instantly. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}
