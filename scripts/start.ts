/**
 * `npm start`: the whole service on one machine with no Docker. Starts what it needs itself (a Temporal dev server
 * and an embedded PostgreSQL, both keeping their state under DATA_DIR), migrates, and runs the worker and the API.
 * TEMPORAL_ADDRESS and DATABASE_URL point it at existing servers instead.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { loadOrCreateLocalApiKeys } from '../runtime/api-keys';
import { loadConfig } from '../runtime/config';
import { createLogger } from '../runtime/logger';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { startReferralService } from '../service';

const config = loadConfig();
const logger = createLogger('referrals', config.logLevel);
installTemporalRuntime(logger);
const { dataDir, port } = config;
const { namespace } = config.temporal;
await mkdir(dataDir, { recursive: true });

const stops: Array<() => Promise<void>> = [];

let databaseUrl = config.databaseUrl;
if (!databaseUrl) {
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(dataDir, 'postgres'),
    port: config.embeddedPostgresPort,
    log: (line) => logger.debug({ component: 'postgres' }, line),
  });
  await postgres.createDatabase('referrals');
  databaseUrl = postgres.url('referrals');
  stops.unshift(postgres.stop);
  logger.info({ port: config.embeddedPostgresPort }, 'embedded PostgreSQL running');
}

let temporalAddress = config.temporal.address;
let uiUrl = config.temporal.uiUrl ?? null;
if (!temporalAddress) {
  const devServer = await startDevServer({
    cliPath: config.temporal.cliPath,
    dbFile: path.join(dataDir, 'temporal.db'),
    ...config.temporal.devServer,
    log: (line) => logger.debug({ component: 'temporal' }, line),
  });
  temporalAddress = devServer.address;
  uiUrl = devServer.uiUrl;
  stops.unshift(devServer.stop);
  logger.info({ address: temporalAddress }, 'Temporal dev server running');
}

const db = createDatabase(databaseUrl, { onIdleError: (error) => logger.warn({ err: error }, 'database connection lost') });
stops.unshift(() => db.destroy());
await migrateToLatest(db);

const apiKeys = config.apiKeys ?? (await loadOrCreateLocalApiKeys(path.join(dataDir, 'api-keys')));
const service = await startReferralService({ db, temporalAddress, namespace, apiKeys, port, logger });
stops.unshift(service.stop);
const apiUrl = service.apiUrl;

const keyLines = config.apiKeys
  ? ['  API keys:  from API_KEYS']
  : apiKeys.map((k) => `  ${k.role.padEnd(8)} key: ${k.secret}   (${k.name}, kept in ${path.join(dataDir, 'api-keys')})`);
process.stdout.write(
  [
    '',
    'Referral engine is running.',
    `  API:       ${apiUrl}`,
    `  API docs:  ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json)`,
    ...(uiUrl ? [`  Temporal:  ${uiUrl}   (Web UI; search ReferralStatus, ReferrerId, RefereeId, ProgramId, ReferralCode)`] : []),
    ...keyLines,
    'Press Ctrl-C to stop.',
    '',
  ].join('\n') + '\n',
);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  for (const stop of stops) {
    await stop().catch((error: unknown) => logger.error({ err: error }, 'error while stopping'));
  }
  logger.info('stopped');
  process.exit(0);
}
// embedded-postgres and the Temporal runtime each stop their part on a signal by themselves; taken over here so
// the order is right: API first, then the worker drains, then Temporal and PostgreSQL.
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
