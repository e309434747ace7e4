/**
 * `npm start`: the whole service on one machine with no Docker. Starts what it needs itself (a Temporal dev server
 * and an embedded PostgreSQL, both keeping their state under DATA_DIR), migrates, and runs the worker and the API.
 * TEMPORAL_ADDRESS and DATABASE_URL point it at existing servers instead.
 *
 * It owns what it starts: one start per data folder, servers left by a killed start of the same folder are stopped
 * first, a port held by anything else stops it with the port and its variable named, and on Ctrl-C (SIGINT, to the
 * whole terminal group) or SIGTERM it stops the API, then the worker, then Temporal, then PostgreSQL. A signal while it
 * is still starting stops the start at its next step, then stops what it had started; a failed start exits 1.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { loadOrCreateLocalApiKeys } from '../runtime/api-keys';
import { loadConfig } from '../runtime/config';
import { lockDataFolder } from '../runtime/data-folder-lock';
import { createLifecycle, StartAborted } from '../runtime/lifecycle';
import { createLogger } from '../runtime/logger';
import { requirePortsFree } from '../runtime/port-check';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { startReferralService } from '../service';

const config = loadConfig();
const logger = createLogger('referrals', config.logLevel);
// The runtime would stop the worker on a signal by itself, out of order: the signals are ours (see stopAndExit).
installTemporalRuntime(logger, 'INFO', { shutdownSignals: [], metricsAddress: config.workerMetricsAddress });

/** What is running is registered as soon as it exists; a stop waits for the start to settle, then stops it all. */
const lifecycle = createLifecycle({
  info: (fields, message) => logger.info(fields, message),
  error: (fields, message) => logger.error(fields, message),
});

async function stopAndExit(reason: string): Promise<void> {
  process.exit(await lifecycle.stop(reason));
}
process.on('SIGINT', () => void stopAndExit('SIGINT'));
process.on('SIGTERM', () => void stopAndExit('SIGTERM'));

try {
  await lifecycle.start(start);
} catch (error) {
  if (!(error instanceof StartAborted) && !lifecycle.stopRequested()) {
    // A refusal (a port taken, the data folder in use) is the message itself; anything else keeps its stack in the log.
    logger.error({ err: error }, 'could not start');
    process.stderr.write(`\nnpm start: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  await stopAndExit('start failed');
}

async function start(): Promise<void> {
  const { dataDir, port } = config;
  const { namespace } = config.temporal;
  const { checkpoint, register } = lifecycle;
  await mkdir(dataDir, { recursive: true });
  // The lock first: a second start on this folder is told the folder is in use, not that a port is.
  if (!config.databaseUrl || !config.temporal.address) {
    const release = await lockDataFolder(dataDir);
    register({ name: 'data folder lock', stop: release, stopped: 'data folder released' });
    checkpoint();
  }
  await requirePortsFree([{ port, setting: 'PORT' }], 'API');
  checkpoint();

  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const postgres = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, 'postgres'),
      port: config.embeddedPostgresPort,
      portSetting: 'EMBEDDED_POSTGRES_PORT',
      log: (line, level) => logger[level]({ component: 'postgres' }, line),
      onSpawned: (stop) => register({ name: 'embedded PostgreSQL', stop, stopped: 'embedded PostgreSQL stopped' }),
    });
    checkpoint();
    await postgres.createDatabase('referrals');
    checkpoint();
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
      portSettings: {
        port: 'TEMPORAL_PORT',
        uiPort: 'TEMPORAL_UI_PORT',
        httpPort: 'TEMPORAL_HTTP_PORT',
        metricsPort: 'TEMPORAL_METRICS_PORT',
      },
      log: (line) => logger.debug({ component: 'temporal' }, line),
      onSpawned: (stop) => register({ name: 'Temporal dev server', stop, stopped: 'Temporal dev server stopped' }),
    });
    checkpoint();
    temporalAddress = devServer.address;
    uiUrl = devServer.uiUrl;
    logger.info({ address: temporalAddress }, 'Temporal dev server running');
  }

  const db = createDatabase(databaseUrl, {
    max: config.databasePoolSize,
    onIdleError: (error) => logger.warn({ err: error }, 'database connection lost'),
  });
  register({ name: 'database pool', stop: () => db.destroy(), stopped: 'database pool closed' });
  await migrateToLatest(db);
  checkpoint();

  const apiKeys = config.apiKeys ?? (await loadOrCreateLocalApiKeys(path.join(dataDir, 'api-keys')));
  checkpoint();
  const service = await startReferralService({
    db,
    temporalAddress,
    namespace,
    apiKeys,
    port,
    logger,
    unreferredOrderRetention: config.unreferredOrderRetention,
    maxCachedWorkflows: config.workerMaxCachedWorkflows,
    maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
    signal: lifecycle.signal,
  });
  register({ name: 'API and worker', stop: service.stop, stopped: 'worker stopped' });
  checkpoint();
  const apiUrl = service.apiUrl;

  const keyLines = config.apiKeys
    ? ['  API keys:  from API_KEYS']
    : apiKeys.map(
        (k) => `  ${k.role.padEnd(8)} key: ${k.secret}   (${k.name}, kept in ${path.join(dataDir, 'api-keys')})`,
      );
  process.stdout.write(
    [
      '',
      'Referral engine is running.',
      `  API:       ${apiUrl}`,
      `  API docs:  ${apiUrl}/docs   (OpenAPI: ${apiUrl}/openapi.json)`,
      ...(uiUrl
        ? [`  Temporal:  ${uiUrl}   (Web UI; search ReferralStatus, ReferrerId, RefereeId, ProgramId, ReferralCode)`]
        : []),
      ...keyLines,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n') + '\n',
  );
}
