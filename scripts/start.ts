/**
 * `npm start`: the whole service on one machine with no Docker. Starts what it needs itself (a Temporal dev server
 * and an embedded PostgreSQL, both keeping their state under DATA_DIR), migrates, and runs the worker and the API.
 * TEMPORAL_ADDRESS and DATABASE_URL point it at existing servers instead.
 *
 * It owns what it starts: one start per data folder, servers left by a killed start of the same folder are stopped
 * first, a port held by anything else stops it with the port and its variable named, and on Ctrl-C (SIGINT, to the
 * whole terminal group) or SIGTERM it stops the API, then the worker, then Temporal, then PostgreSQL.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { loadOrCreateLocalApiKeys } from '../runtime/api-keys';
import { loadConfig } from '../runtime/config';
import { lockDataFolder } from '../runtime/data-folder-lock';
import { createLogger } from '../runtime/logger';
import { requirePortsFree } from '../runtime/port-check';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { startReferralService } from '../service';

const config = loadConfig();
const logger = createLogger('referrals', config.logLevel);
installTemporalRuntime(logger);
// The Temporal runtime would stop the worker on a signal by itself, out of order: the signal is ours (see shutdown).
process.removeAllListeners('SIGINT');
process.removeAllListeners('SIGTERM');

/** What is running, last started first: stopping walks it in order, so users stop before what they use. */
const running: Array<{ name: string; stop: () => Promise<void>; stopped: string }> = [];
let stopping = false;

async function shutdown(reason: string, exitCode: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ reason }, 'shutting down');
  for (const { name, stop, stopped } of running) {
    await stop().then(
      () => logger.info({ part: name }, stopped),
      (error: unknown) => logger.error({ err: error, part: name }, `error while stopping the ${name}`),
    );
  }
  logger.info('stopped');
  process.exit(exitCode);
}
process.on('SIGINT', () => void shutdown('SIGINT', 0));
process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

try {
  await start();
} catch (error) {
  // A refusal (a port taken, the data folder in use) is the message itself; anything else keeps its stack in the log.
  logger.error({ err: error }, 'could not start');
  process.stderr.write(`\nnpm start: ${error instanceof Error ? error.message : String(error)}\n`);
  await shutdown('start failed', 1);
}

async function start(): Promise<void> {
  const { dataDir, port } = config;
  const { namespace } = config.temporal;
  await mkdir(dataDir, { recursive: true });
  await requirePortsFree([{ port, setting: 'PORT' }], 'API');
  if (!config.databaseUrl || !config.temporal.address) {
    const release = await lockDataFolder(dataDir);
    running.unshift({ name: 'data folder lock', stop: release, stopped: 'data folder released' });
  }

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const postgres = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'postgres'),
      port: config.embeddedPostgresPort,
      portSetting: 'EMBEDDED_POSTGRES_PORT',
      log: (line, level) => logger[level]({ component: 'postgres' }, line),
    });
    running.unshift({ name: 'embedded PostgreSQL', stop: postgres.stop, stopped: 'embedded PostgreSQL stopped' });
    await postgres.createDatabase('referrals');
    databaseUrl = postgres.url('referrals');
    logger.info({ port: config.embeddedPostgresPort, dataDir: postgres.dataDir }, 'embedded PostgreSQL running');
  }

  let temporalAddress = config.temporal.address;
  let uiUrl = config.temporal.uiUrl ?? null;
  if (!temporalAddress) {
    const devServer = await startDevServer({
      cliPath: config.temporal.cliPath,
      dbFile: path.join(dataDir, 'temporal.db'),
      ...config.temporal.devServer,
      portSettings: { port: 'TEMPORAL_PORT', uiPort: 'TEMPORAL_UI_PORT', httpPort: 'TEMPORAL_HTTP_PORT', metricsPort: 'TEMPORAL_METRICS_PORT' },
      log: (line) => logger.debug({ component: 'temporal' }, line),
    });
    running.unshift({ name: 'Temporal dev server', stop: devServer.stop, stopped: 'Temporal dev server stopped' });
    temporalAddress = devServer.address;
    uiUrl = devServer.uiUrl;
    logger.info({ address: temporalAddress }, 'Temporal dev server running');
  }

  const db = createDatabase(databaseUrl, { onIdleError: (error) => logger.warn({ err: error }, 'database connection lost') });
  running.unshift({ name: 'database pool', stop: () => db.destroy(), stopped: 'database pool closed' });
  await migrateToLatest(db);

  const apiKeys = config.apiKeys ?? (await loadOrCreateLocalApiKeys(path.join(dataDir, 'api-keys')));
  const service = await startReferralService({ db, temporalAddress, namespace, apiKeys, port, logger });
  running.unshift({ name: 'API and worker', stop: service.stop, stopped: 'worker stopped' });
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
}
