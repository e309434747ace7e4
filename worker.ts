/**
 * The referral worker as its own process (the production shape). Reads DATABASE_URL, TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, LOG_LEVEL, WORKFLOW_BUNDLE_PATH; the schema is migrated beforehand (`npm run migrate`, the
 * compose migration job). PostgreSQL or Temporal down while it starts is waited for (runtime/dependencies.ts).
 */
import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createDatabase } from './db/connection';
import { loadConfig, requireSetting, requireWorkflowBundle } from './runtime/config';
import {
  connectTemporal,
  isTemporalTransient,
  keepTrying,
  retrying,
  waitForDatabase,
  withinTry,
} from './runtime/dependencies';
import { createLogger } from './runtime/logger';
import { ensureInboxRetentionSchedule, requireRetention } from './runtime/inbox-retention';
import { ensureSearchAttributes } from './runtime/search-attributes';
import { installTemporalRuntime } from './runtime/temporal-runtime';
import { createReferralWorker } from './runtime/worker';
import { buildWorkflowBundle } from './runtime/workflow-bundle';

const config = loadConfig();
const logger = createLogger('worker', config.logLevel);
installTemporalRuntime(logger, 'INFO', { metricsAddress: config.workerMetricsAddress });
const address = requireSetting(config.temporal.address, 'TEMPORAL_ADDRESS');
const { namespace } = config.temporal;
const retention = requireRetention(config.unreferredOrderRetention);
// The image's prebuilt bundle (scripts/bundle-workflows.ts) spares every start a webpack build.
const bundleFile = requireWorkflowBundle(config);

// Until the worker runs, a signal has nothing to drain: the start, however long it waits, just ends. Once it runs,
// Worker.run() handles SIGINT/SIGTERM itself: it stops polling, drains, then resolves.
let worker: Worker | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (worker) return;
    logger.info({ signal }, 'worker stopped while starting');
    process.exit(0);
  });
}

const db = createDatabase(requireSetting(config.databaseUrl, 'DATABASE_URL'), {
  max: config.databasePoolSize,
  onIdleError: (error) => logger.warn({ err: error }, 'database connection lost'),
});
// What waiting does not mend (a namespace that does not exist, a workflow bundle that cannot be read) ends the start
// with the reason in the log and exit 1, for the supervisor and whoever reads its log.
const failedStart = (error: unknown): never => {
  logger.fatal({ err: error }, `worker could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
};
await waitForDatabase(db, { logger }).catch(failedStart);

const admin = await connectTemporal({ address, namespace, logger }).catch(failedStart);
// after the namespace is known to exist: a start refused for it costs no build
const workflowBundle = bundleFile ? { codePath: bundleFile } : await buildWorkflowBundle().catch(failedStart);
const temporalCall = { logger, isTransient: isTemporalTransient };
// Workflows upsert the referral search attributes; they must exist before the first workflow task runs.
await retrying(
  'registering the search attributes',
  () => withinTry(admin, () => ensureSearchAttributes(admin, namespace)),
  temporalCall,
).catch(failedStart);
const connection = await retrying(
  'connecting the worker',
  () => NativeConnection.connect({ address }),
  temporalCall,
).catch(failedStart);
worker = await retrying(
  'creating the worker',
  () =>
    createReferralWorker({
      connection,
      namespace,
      db,
      workflowBundle,
      maxCachedWorkflows: config.workerMaxCachedWorkflows,
      maxConcurrentWorkflowTasks: config.workerMaxConcurrentWorkflowTasks,
    }),
  temporalCall,
).catch(failedStart);
// The worker owns what runs on its task queue, the inbox's retention schedule included; referrals do not wait for
// it, so a Temporal that takes schedules later than workflows (its hosts still joining after a restart) does not
// hold the worker back.
const schedule = keepTrying(
  'ensuring the inbox retention schedule',
  () =>
    withinTry(admin, () => ensureInboxRetentionSchedule(new Client({ connection: admin, namespace }), { retention })),
  { logger },
);
logger.info({ temporal: address, namespace }, 'worker running');
await worker.run();
await schedule.stop();
await admin.close();
await connection.close();
await db.destroy();
logger.info('worker stopped');
