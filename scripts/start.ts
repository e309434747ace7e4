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
import { loadOrCreateLocalApiKeys, parseApiKeys } from '../runtime/api-keys';
import { createLogger } from '../runtime/logger';
import { startReferralService } from '../runtime/service';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';

const logger = createLogger('referrals');
installTemporalRuntime(logger);
const env = process.env;
const dataDir = path.resolve(env.DATA_DIR ?? '.data');
const port = Number(env.PORT ?? 3000);
const namespace = env.TEMPORAL_NAMESPACE ?? 'default';
await mkdir(dataDir, { recursive: true });

const stops: Array<() => Promise<void>> = [];

let databaseUrl = env.DATABASE_URL;
if (!databaseUrl) {
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(dataDir, 'postgres'),
    port: Number(env.EMBEDDED_POSTGRES_PORT ?? 54329),
    log: (line) => logger.debug({ component: 'postgres' }, line),
  });
  await postgres.createDatabase('referrals');
  databaseUrl = postgres.url('referrals');
  stops.unshift(postgres.stop);
  logger.info({ port: env.EMBEDDED_POSTGRES_PORT ?? 54329 }, 'embedded PostgreSQL running');
}

let temporalAddress = env.TEMPORAL_ADDRESS;
let uiUrl = env.TEMPORAL_UI_URL ?? null;
if (!temporalAddress) {
  const devServer = await startDevServer({
    dbFile: path.join(dataDir, 'temporal.db'),
    port: Number(env.TEMPORAL_PORT ?? 7233),
    uiPort: Number(env.TEMPORAL_UI_PORT ?? 8233),
    // default: TEMPORAL_PORT + 10 and + 20
    httpPort: env.TEMPORAL_HTTP_PORT ? Number(env.TEMPORAL_HTTP_PORT) : undefined,
    metricsPort: env.TEMPORAL_METRICS_PORT ? Number(env.TEMPORAL_METRICS_PORT) : undefined,
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

const apiKeys = env.API_KEYS ? parseApiKeys(env.API_KEYS) : await loadOrCreateLocalApiKeys(path.join(dataDir, 'api-keys'));
const service = await startReferralService({ db, temporalAddress, namespace, apiKeys, port, logger });
stops.unshift(service.stop);
const apiUrl = service.apiUrl;

const keyLines = env.API_KEYS
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
