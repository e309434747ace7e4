import { serve } from '@hono/node-server';
import type { Client } from '@temporalio/client';
import type { DB } from '../db/connection';
import { createDeliveryQueue } from '../intake/delivery-queue';
import { startInboxRelay, type RelayPolicy } from '../intake/inbox-relay';
import type { ApiKey } from '../runtime/api-keys';
import type { Logger } from '../runtime/logger';
import { PortInUseError } from '../runtime/port-check';
import { TASK_QUEUE } from '../workflows/shared';
import { createApp } from './app';

export interface RunningApi {
  url: string;
  /** stops taking requests, lets the relay's round finish, then closes the server */
  stop: () => Promise<void>;
}

/**
 * Orders delivered after their 202: Temporal calls at once, and how many may wait before requests deliver their own
 * (the benchmark's order figures are what to tune them by).
 */
const ORDER_DELIVERIES = { concurrency: 32, capacity: 2_000 };

/** Serves the API on a port and runs the inbox relay beside it until stopped. */
export async function startApi(options: {
  db: DB;
  temporal: Client;
  apiKeys: ApiKey[];
  port: number;
  hostname?: string | undefined;
  logger: Logger;
  /** how often the relay runs, and its per-event schedule */
  relay?: ({ intervalMs?: number } & Partial<RelayPolicy>) | undefined;
}): Promise<RunningApi> {
  const deps = {
    db: options.db,
    temporal: options.temporal,
    apiKeys: options.apiKeys,
    clock: () => new Date(),
    logger: options.logger,
    taskQueue: TASK_QUEUE,
    deliveries: createDeliveryQueue({ ...ORDER_DELIVERIES, logger: options.logger }),
  };
  const app = createApp(deps);
  // A port taken between the start's check and this bind (by any process) fails the start with the port named;
  // unhandled, the server's error event would end the process with its servers running.
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.hostname ?? '0.0.0.0' }, () => {
      s.off('error', reject);
      // a failure to accept a connection (too many open files under load) is logged; the server goes on
      s.on('error', (error) => options.logger.error({ err: error }, 'the API server failed to accept a connection'));
      resolve(s);
    });
    s.once('error', reject);
  }).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    throw code === 'EADDRINUSE'
      ? new PortInUseError(
          `port ${options.port} is in use by another process, so the API cannot start there: stop that process or set PORT to a free port`,
        )
      : error;
  });
  const relay = startInboxRelay(deps, options.relay);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://localhost:${port}`,
    stop: async () => {
      // No new requests first; then the relay finishes the event in hand (it takes no new ones once stopped).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await relay.stop();
      await closed;
      // Orders answered but not yet delivered: given a moment, then left in the inbox for the next relay.
      await deps.deliveries.drain(5_000);
    },
  };
}
