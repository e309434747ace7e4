/**
 * The API as its own process (the production shape): serves HTTP and relays undelivered events. Reads
 * DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, API_KEYS, PORT, LOG_LEVEL; the schema is migrated beforehand
 * (`npm run migrate`, the compose migration job).
 */
import { createDatabase } from '../db/connection';
import { requireMigrated } from '../db/migrate';
import { loadConfig, requireSetting } from '../runtime/config';
import { createLogger } from '../runtime/logger';
import { connectTemporalClient } from '../runtime/temporal-client';
import { startApi } from './serve';

const config = loadConfig();
const logger = createLogger('api', config.logLevel);
const db = createDatabase(requireSetting(config.databaseUrl, 'DATABASE_URL'), { max: config.databasePoolSize });
await requireMigrated(db);
const temporal = await connectTemporalClient({
  address: requireSetting(config.temporal.address, 'TEMPORAL_ADDRESS'),
  namespace: config.temporal.namespace,
});
const api = await startApi({
  db,
  temporal,
  apiKeys: requireSetting(config.apiKeys, 'API_KEYS'),
  port: config.port,
  logger,
});
logger.info({ url: api.url }, 'api listening');

async function shutdown(): Promise<void> {
  await api.stop();
  await temporal.connection.close();
  await db.destroy();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
