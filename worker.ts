/**
 * The referral worker as its own process (the production shape). Reads DATABASE_URL, TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, LOG_LEVEL, WORKFLOW_BUNDLE_PATH; the schema is migrated beforehand (`npm run migrate`, the
 * compose migration job).
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDatabase } from './db/connection';
import { requireMigrated } from './db/migrate';
import { loadConfig, requireSetting, requireWorkflowBundle } from './runtime/config';
import { createLogger } from './runtime/logger';
import { ensureInboxRetentionSchedule } from './runtime/inbox-retention';
import { ensureSearchAttributes } from './runtime/search-attributes';
import { installTemporalRuntime } from './runtime/temporal-runtime';
import { createReferralWorker } from './runtime/worker';

const config = loadConfig();
const logger = createLogger('worker', config.logLevel);
installTemporalRuntime(logger);
const address = requireSetting(config.temporal.address, 'TEMPORAL_ADDRESS');
const { namespace } = config.temporal;
const db = createDatabase(requireSetting(config.databaseUrl, 'DATABASE_URL'), { max: config.databasePoolSize });
await requireMigrated(db);

// Workflows upsert the referral search attributes; they must exist before the first workflow task runs.
const admin = await Connection.connect({ address });
await ensureSearchAttributes(admin, namespace);
// The worker owns what runs on its task queue, the inbox's retention schedule included.
await ensureInboxRetentionSchedule(new Client({ connection: admin, namespace }), {
  retention: config.unreferredOrderRetention,
});
await admin.close();

const connection = await NativeConnection.connect({ address });
// The image's prebuilt bundle (scripts/bundle-workflows.ts) spares every start a webpack build.
const bundleFile = requireWorkflowBundle(config);
const workflowBundle = bundleFile ? { codePath: bundleFile } : undefined;
const worker = await createReferralWorker({
  connection,
  namespace,
  db,
  workflowBundle,
  maxCachedWorkflows: config.workerMaxCachedWorkflows,
});
logger.info({ temporal: address, namespace }, 'worker running');
// Worker.run() handles SIGINT/SIGTERM itself: it stops polling, drains, then resolves.
await worker.run();
await connection.close();
await db.destroy();
logger.info('worker stopped');
