import { statSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { durationToMs } from '../workflows/durations';
import { parseApiKeys, type ApiKey } from './api-keys';
import { DEFAULT_UNREFERRED_ORDER_RETENTION } from './inbox-retention';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const Port = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a port number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(65_535));
const PositiveInt = z
  .string()
  .regex(/^\d{1,7}$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1));
/** `1.2.3.4:5` or `[::1]:5`, the port from 1 to 65535. */
function isIpAndPort(value: string): boolean {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([\d.]+)):(\d{1,5})$/.exec(value);
  if (!match) return false;
  const port = Number(match[3]);
  const ip = match[1] ?? match[2]!;
  return port >= 1 && port <= 65_535 && isIP(ip) === (match[1] ? 6 : 4);
}

const Optional = z
  .string()
  .optional()
  .transform((value) => (value?.trim() ? value.trim() : undefined));

/**
 * Every setting the entry points read, from the environment, validated once at boot: a typo stops the process with
 * the variable named instead of surfacing later as a strange connection error.
 */
const ConfigSchema = z.object({
  DATABASE_URL: Optional.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  EMBEDDED_POSTGRES_PORT: Port.default(54_329),
  TEMPORAL_ADDRESS: Optional,
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default('default'),
  TEMPORAL_PORT: Port.default(7_233),
  TEMPORAL_UI_PORT: Port.default(8_233),
  TEMPORAL_HTTP_PORT: Port.optional(),
  TEMPORAL_METRICS_PORT: Port.optional(),
  TEMPORAL_UI_URL: Optional,
  TEMPORAL_CLI_PATH: Optional,
  TEMPORAL_TEST_SERVER_PATH: Optional,
  API_KEYS: Optional.transform((value, ctx): ApiKey[] | undefined => {
    if (value === undefined) return undefined;
    try {
      return parseApiKeys(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  PORT: Port.default(3_000),
  DATA_DIR: z.string().min(1).default('.data'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  // Checked by the worker that loads it (requireWorkflowBundle), not by every process that reads the configuration.
  WORKFLOW_BUNDLE_PATH: Optional,
  DATABASE_POOL_SIZE: PositiveInt.optional(),
  WORKER_MAX_CACHED_WORKFLOWS: PositiveInt.optional(),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: PositiveInt.optional(),
  // The SDK binds it as a socket address: an IP literal and a port (a host name stops the runtime at start).
  WORKER_METRICS_ADDRESS: Optional.pipe(
    z.string().refine(isIpAndPort, 'must be an IP address and a port, e.g. 0.0.0.0:9464 or [::1]:9464').optional(),
  ),
  UNREFERRED_ORDER_RETENTION: z
    .string()
    .trim()
    .refine((value) => durationToMs(value) !== undefined, 'must be a duration such as "90 days" (at most 3650 days)')
    .default(DEFAULT_UNREFERRED_ORDER_RETENTION),
});

export interface Config {
  /** PostgreSQL to use; undefined means the embedded default under `dataDir` */
  databaseUrl: string | undefined;
  embeddedPostgresPort: number;
  temporal: {
    /** Temporal frontend to use; undefined means a dev server started by `npm start` */
    address: string | undefined;
    namespace: string;
    devServer: { port: number; uiPort: number; httpPort: number; metricsPort: number };
    uiUrl: string | undefined;
    cliPath: string;
    testServerPath: string;
  };
  apiKeys: ApiKey[] | undefined;
  port: number;
  dataDir: string;
  logLevel: z.infer<typeof ConfigSchema>['LOG_LEVEL'];
  /** a workflow bundle built beforehand (the image builds one); undefined means the worker bundles at start */
  workflowBundlePath: string | undefined;
  /** how long the inbox keeps orders of customers nobody referred (the inbox-retention schedule) */
  unreferredOrderRetention: string;
  /** connections in each process's PostgreSQL pool; undefined means DEFAULT_POOL_SIZE (db/connection.ts) */
  databasePoolSize: number | undefined;
  /** referrals the worker keeps in memory between their tasks; undefined means runtime/worker.ts's default */
  workerMaxCachedWorkflows: number | undefined;
  workerMaxConcurrentWorkflowTasks: number | undefined;
  /** where the Temporal SDK serves the worker's Prometheus metrics (cache hits, task latencies); undefined: nowhere */
  workerMetricsAddress: string | undefined;
}

export class ConfigError extends Error {}

/** Reads and checks the environment; throws a ConfigError naming every variable at fault. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // A variable set to nothing (`PORT=`) means the default, as if it were not set.
  const given = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''),
  );
  const parsed = ConfigSchema.safeParse(given);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const e = parsed.data;
  const httpPort = e.TEMPORAL_HTTP_PORT ?? e.TEMPORAL_PORT + 10;
  const metricsPort = e.TEMPORAL_METRICS_PORT ?? e.TEMPORAL_PORT + 20;
  if (httpPort > 65_535 || metricsPort > 65_535) {
    throw new ConfigError(
      `invalid configuration: TEMPORAL_PORT ${e.TEMPORAL_PORT} leaves no room for its HTTP and metrics ports (+10, +20); set TEMPORAL_HTTP_PORT and TEMPORAL_METRICS_PORT`,
    );
  }
  return {
    databaseUrl: e.DATABASE_URL,
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      devServer: {
        port: e.TEMPORAL_PORT,
        uiPort: e.TEMPORAL_UI_PORT,
        httpPort,
        metricsPort,
      },
      uiUrl: e.TEMPORAL_UI_URL,
      cliPath: e.TEMPORAL_CLI_PATH ?? path.join(ROOT, '.tools/bin/temporal'),
      testServerPath: e.TEMPORAL_TEST_SERVER_PATH ?? path.join(ROOT, '.tools/test-server/test-server'),
    },
    apiKeys: e.API_KEYS,
    port: e.PORT,
    dataDir: path.resolve(e.DATA_DIR),
    logLevel: e.LOG_LEVEL,
    workflowBundlePath: e.WORKFLOW_BUNDLE_PATH === undefined ? undefined : path.resolve(e.WORKFLOW_BUNDLE_PATH),
    unreferredOrderRetention: e.UNREFERRED_ORDER_RETENTION,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    workerMaxCachedWorkflows: e.WORKER_MAX_CACHED_WORKFLOWS,
    workerMaxConcurrentWorkflowTasks: e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    workerMetricsAddress: e.WORKER_METRICS_ADDRESS,
  };
}

/** The prebuilt workflow bundle the worker is to load, if one is named: it must be a file. */
export function requireWorkflowBundle(config: Pick<Config, 'workflowBundlePath'>): string | undefined {
  const file = config.workflowBundlePath;
  if (file === undefined) return undefined;
  const isFile = statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
  if (!isFile)
    throw new ConfigError(
      `invalid configuration: WORKFLOW_BUNDLE_PATH: no such file: ${file} (build it with scripts/bundle-workflows.ts)`,
    );
  return file;
}

/** For the processes that cannot run without a setting the embedded default would otherwise provide. */
export function requireSetting<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ConfigError(`${name} is required`);
  return value;
}
