/**
 * The referral worker on its own (the production shape runs it as its own process):
 *   DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE.
 */
import { NativeConnection } from '@temporalio/worker';
import { Connection } from '@temporalio/client';
import { createDatabase } from './db/connection';
import { migrateToLatest } from './db/migrate';
import { createLogger } from './runtime/logger';
import { ensureSearchAttributes } from './runtime/search-attributes';
import { temporalSettingsFromEnv } from './runtime/temporal-client';
import { createReferralWorker } from './runtime/worker';
import { installTemporalRuntime } from './runtime/temporal-runtime';

const logger = createLogger('worker');
installTemporalRuntime(logger);
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  logger.fatal('DATABASE_URL is required');
  process.exit(2);
}
const temporal = temporalSettingsFromEnv();
const db = createDatabase(databaseUrl);
await migrateToLatest(db);

const client = await Connection.connect({ address: temporal.address });
await ensureSearchAttributes(client, temporal.namespace);
await client.close();

const connection = await NativeConnection.connect({ address: temporal.address });
const worker = await createReferralWorker({ connection, namespace: temporal.namespace, db });
logger.info({ temporal: temporal.address, namespace: temporal.namespace }, 'worker running');
// Worker.run() handles SIGINT/SIGTERM itself: it stops polling, drains, then resolves.
await worker.run();
await connection.close();
await db.destroy();
logger.info('worker stopped');
