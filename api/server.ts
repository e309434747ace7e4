/**
 * The API as its own process (the production shape): serves HTTP and relays undelivered events. Reads
 * DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, API_KEYS, PORT, LOG_LEVEL; the schema is migrated beforehand
 * (`npm run migrate`, the compose migration job). PostgreSQL or Temporal down while it starts is waited for
 * (runtime/dependencies.ts); once it serves, an outage of either is answered 503 until it is back.
 */
import { Client } from '@temporalio/client';
import { createDatabase } from '../db/connection';
import { loadConfig, requireSetting } from '../runtime/config';
import { connectTemporal, waitForDatabase } from '../runtime/dependencies';
import { createLogger } from '../runtime/logger';
import { startApi, type RunningApi } from './serve';

const config = loadConfig();
const logger = createLogger('api', config.logLevel);
const apiKeys = requireSetting(config.apiKeys, 'API_KEYS');
const address = requireSetting(config.temporal.address, 'TEMPORAL_ADDRESS');
const { namespace } = config.temporal;
const db = createDatabase(requireSetting(config.databaseUrl, 'DATABASE_URL'), {
  max: config.databasePoolSize,
  onIdleError: (error) => logger.warn({ err: error }, 'database connection lost'),
});

let api: RunningApi | undefined;
let temporal: Client | undefined;
async function shutdown(running: RunningApi): Promise<void> {
  await running.stop();
  await temporal?.connection.close();
  await db.destroy();
  process.exit(0);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (api) return void shutdown(api);
    // still waiting for PostgreSQL or Temporal: nothing is served yet, so nothing is drained
    logger.info({ signal }, 'api stopped while starting');
    process.exit(0);
  });
}

await waitForDatabase(db, { logger });
temporal = new Client({ connection: await connectTemporal({ address, namespace, logger }), namespace });
api = await startApi({ db, temporal, apiKeys, port: config.port, logger });
logger.info({ url: api.url }, 'api listening');
