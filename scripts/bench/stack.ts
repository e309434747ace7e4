/**
 * What the benchmark runs against: PostgreSQL (embedded, or a fresh database on DATABASE_URL's server), Temporal (a
 * dev server on WAL SQLite, the server named by TEMPORAL_ADDRESS, or a Temporal server on PostgreSQL), the
 * schema migrated, and the product's service in a child process. Whatever it starts it stops.
 */
import { execFile, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { createDatabase, type DB } from '../../db/connection';
import { startEmbeddedPostgres } from '../../db/embedded-postgres';
import { migrateToLatest } from '../../db/migrate';
import type { ApiKey } from '../../runtime/api-keys';
import { freePort } from '../../runtime/free-port';
import { startDevServer } from '../../runtime/temporal-dev-server';
import type { LoopDelay, ServiceMemory, ServicePart, ServiceReply, ServiceRequest } from './service-process';
import type { MetricTotals } from './worker-metrics';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_CLI = path.join(ROOT, '.tools/bin/temporal');

export type TemporalChoice = 'dev' | 'postgres';

/** A topology the benchmark cannot run on this checkout yet: reported, exit code 2. */
export class NotAvailable extends Error {}

export interface Versions {
  node: string;
  postgres: string;
  temporalServer: string;
  /** what `temporal --version` prints, when the benchmark started the CLI's dev server */
  temporalCli: string | null;
}

export interface ServiceProcess {
  apiUrl: string;
  /** the service's processes: one, or the worker's and the API's when split */
  pids: number[];
  memory: (options?: { collect?: boolean }) => Promise<ServiceMemory>;
  /** the worker's SDK metrics so far, summed by name (workerPhase tells two readings apart) */
  workerMetrics: () => Promise<MetricTotals>;
  /** the main thread's event-loop delay since the last call (then counted afresh) */
  loopDelay: () => Promise<LoopDelay>;
  stop: () => Promise<void>;
}

export interface Stack {
  topology: string;
  temporalKind: 'dev' | 'postgres' | 'external';
  postgresKind: 'embedded' | 'external';
  databaseUrl: string;
  db: DB;
  temporalAddress: string;
  namespace: string;
  /** the benchmark's own client: baselines, queries, histories */
  temporal: Client;
  versions: Versions;
  apiKeys: { admin: string; commerce: string };
  /** the product's service in its own process; its stop joins the others */
  /** `split`: the worker and the API in processes of their own, as the compose file runs them */
  startService: (options?: { split?: boolean }) => Promise<ServiceProcess>;
  stop: () => Promise<void>;
}

/**
 * Starts what is needed. `cleanups` receives each stop as soon as there is something to stop, so an interrupted
 * start stops what it had started.
 */
export async function startStack(options: {
  dir: string;
  temporal: TemporalChoice | undefined;
  cleanups: Array<() => Promise<void>>;
  log: (line: string) => void;
  /** a folder for the service's CPU profiles (main thread and workflow threads), written as it stops */
  cpuProfileDir?: string | undefined;
}): Promise<Stack> {
  const { dir, cleanups, log } = options;
  const externalTemporal = process.env.TEMPORAL_ADDRESS?.trim() || undefined;
  const externalDatabase = process.env.DATABASE_URL?.trim() || undefined;
  if (externalTemporal && options.temporal) {
    throw new NotAvailable(
      `TEMPORAL_ADDRESS is set (${externalTemporal}): the benchmark uses that server; leave out --temporal, or unset it`,
    );
  }
  const temporalKind = externalTemporal ? 'external' : (options.temporal ?? 'dev');
  const onPostgres = temporalKind === 'postgres' ? await loadTemporalOnPostgres() : undefined;
  const postgresKind = externalDatabase ? 'external' : 'embedded';

  const postgresStarted = (async () => {
    if (externalDatabase) return freshDatabaseOn(externalDatabase, 'referrals_bench', cleanups);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port: await freePort() });
    // remove(), not stop(): as root the cluster lives outside `dir`, and would be left behind.
    cleanups.push(() => server.remove());
    await server.createDatabase('referrals');
    return server.url('referrals');
  })();
  const cliPath = process.env.TEMPORAL_CLI_PATH?.trim() || DEFAULT_CLI;
  let namespace = process.env.TEMPORAL_NAMESPACE?.trim() || 'default';
  const temporalStarted = (async () => {
    if (externalTemporal) return externalTemporal;
    if (onPostgres) {
      // Temporal's own databases on the same PostgreSQL server as the application's, as the compose file has them;
      // on a server the benchmark does not own, under names of this run, dropped afterwards.
      const url = await postgresStarted;
      const databases = externalDatabase
        ? {
            main: await freshDatabaseOn(externalDatabase, 'temporal_bench', cleanups, { create: false }),
            visibility: await freshDatabaseOn(externalDatabase, 'temporal_visibility_bench', cleanups, {
              create: false,
            }),
          }
        : undefined;
      const server = await onPostgres.startTemporalOnPostgres({
        postgres: onPostgres.postgresEndpointFromUrl(url),
        dataDir: path.join(dir, 'temporal-server'),
        ...(databases
          ? { databases: { main: databaseName(databases.main), visibility: databaseName(databases.visibility) } }
          : {}),
        log: (line) => log(`temporal server: ${line}`),
      });
      cleanups.push(server.stop);
      namespace = server.namespace;
      return server.address;
    }
    const dev = await startDevServer({
      cliPath,
      dbFile: path.join(dir, 'temporal.db'),
      port: await freePort(),
      httpPort: await freePort(),
      metricsPort: await freePort(),
      onSpawned: (stop) => cleanups.push(stop),
    });
    return dev.address;
  })();
  // PostgreSQL and a dev server start side by side: neither needs the other.
  const [databaseUrl, temporalAddress] = await Promise.all([postgresStarted, temporalStarted]);
  log(`PostgreSQL (${postgresKind}) and Temporal (${temporalKind}, ${temporalAddress}) running`);

  const db = createDatabase(databaseUrl, { max: 10 });
  cleanups.push(() => db.destroy());
  await migrateToLatest(db);

  const connection = await Connection.connect({ address: temporalAddress });
  cleanups.push(() => connection.close());
  const temporal = new Client({ connection, namespace });

  const versions: Versions = {
    node: process.version,
    postgres: await serverVersion(databaseUrl),
    temporalServer: '',
    temporalCli: temporalKind === 'dev' ? await cliVersion(cliPath) : null,
  };
  const system = await connection.workflowService.getSystemInfo({});
  versions.temporalServer =
    system.serverVersion || /Server ([\w.-]+)/.exec(versions.temporalCli ?? '')?.[1] || 'unknown';

  const secret = () => randomBytes(18).toString('base64url');
  const apiKeys = { admin: secret(), commerce: secret() };
  const startPart = (part?: ServicePart) =>
    startServiceProcess({
      dir,
      logName: part ? `service-${part}.log` : 'service.log',
      cleanups,
      cpuProfileDir: options.cpuProfileDir,
      request: {
        type: 'start',
        databaseUrl,
        temporalAddress,
        namespace,
        apiKeys: [
          { name: 'bench-admin', role: 'admin', secret: apiKeys.admin },
          { name: 'bench-commerce', role: 'commerce', secret: apiKeys.commerce },
        ] satisfies ApiKey[],
        part,
      },
    });
  const startService = async ({ split = false } = {}): Promise<ServiceProcess> => {
    if (!split) return startPart();
    const [worker, api] = await Promise.all([startPart('worker'), startPart('api')]);
    // The footprint's goal is the worker's; the 202 waits on the API's loop. Each process has its own pool.
    return {
      ...worker,
      apiUrl: api.apiUrl,
      pids: [...worker.pids, ...api.pids],
      loopDelay: api.loopDelay,
      stop: async () => {
        await api.stop();
        await worker.stop();
      },
    };
  };

  return {
    topology: `temporal-${temporalKind}_pg-${postgresKind}`,
    temporalKind,
    postgresKind,
    databaseUrl,
    db,
    temporalAddress,
    namespace,
    temporal,
    versions,
    apiKeys,
    startService,
    stop: async () => {
      // Last started, first stopped: the service, then the client and pool, then the servers.
      while (cleanups.length > 0) {
        const cleanup = cleanups.pop()!;
        await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
      }
    },
  };
}

/** What the benchmark uses of runtime/temporal-postgres-server.ts. */
interface TemporalOnPostgresModule {
  startTemporalOnPostgres(options: {
    postgres: PostgresEndpoint;
    dataDir: string;
    databases?: { main?: string; visibility?: string };
    log?: (line: string) => void;
  }): Promise<{ address: string; namespace: string; stop: () => Promise<void> }>;
  postgresEndpointFromUrl(url: string): PostgresEndpoint;
  temporalServerInstalled(): boolean;
}
interface PostgresEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

/**
 * The production topology's Temporal server on PostgreSQL, started by runtime/temporal-postgres-server.ts. Loaded
 * only when asked for, so a checkout without that module or without the server binaries runs every other topology
 * and says why this one is not available.
 */
async function loadTemporalOnPostgres(): Promise<TemporalOnPostgresModule> {
  const file = path.join(ROOT, 'runtime/temporal-postgres-server.ts');
  if (!existsSync(file)) {
    throw new NotAvailable(
      `--temporal postgres is not available: there is no ${path.relative(ROOT, file)} to start a Temporal server on PostgreSQL; use --temporal dev (the default) or TEMPORAL_ADDRESS`,
    );
  }
  const loaded = (await import(pathToFileURL(file).href)) as Partial<TemporalOnPostgresModule>;
  if (
    typeof loaded.startTemporalOnPostgres !== 'function' ||
    typeof loaded.postgresEndpointFromUrl !== 'function' ||
    typeof loaded.temporalServerInstalled !== 'function'
  ) {
    throw new NotAvailable(
      `--temporal postgres is not available: ${path.relative(ROOT, file)} does not export startTemporalOnPostgres, postgresEndpointFromUrl and temporalServerInstalled`,
    );
  }
  const module = loaded as TemporalOnPostgresModule;
  if (!module.temporalServerInstalled()) {
    throw new NotAvailable(
      '--temporal postgres is not available: the Temporal server is not installed; run `bash scripts/install-temporal-server.sh` (needs Go, a few minutes once)',
    );
  }
  return module;
}

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

/**
 * A database of its own on the given server (named after `prefix` and this run), dropped afterwards, so the
 * footprint counts only this run's rows. `create: false` leaves the creating to whoever uses it.
 */
async function freshDatabaseOn(
  url: string,
  prefix: string,
  cleanups: Array<() => Promise<void>>,
  options: { create?: boolean } = {},
): Promise<string> {
  const name = `${prefix}_${Date.now().toString(36)}`;
  if (options.create ?? true) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`create database ${admin.escapeIdentifier(name)}`);
    } catch (error) {
      throw new Error(
        `cannot create a database for the benchmark on DATABASE_URL's server (it needs CREATEDB): ${String(error)}`,
        { cause: error },
      );
    } finally {
      await admin.end();
    }
  }
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
    } finally {
      await client.end();
    }
  });
  const fresh = new URL(url);
  fresh.pathname = `/${encodeURIComponent(name)}`;
  return fresh.toString();
}

async function serverVersion(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  } finally {
    await client.end();
  }
}

async function cliVersion(cliPath: string): Promise<string> {
  const { stdout } = await promisify(execFile)(cliPath, ['--version'], { timeout: 10_000 });
  return stdout.trim();
}

/** Forks the service process and waits until its API answers, at most 3 minutes (it bundles the workflows first). */
async function startServiceProcess(options: {
  dir: string;
  logName: string;
  cleanups: Array<() => Promise<void>>;
  cpuProfileDir?: string | undefined;
  request: Extract<ServiceRequest, { type: 'start' }>;
}): Promise<ServiceProcess> {
  const logFile = path.join(options.dir, options.logName);
  const log = createWriteStream(logFile);
  // The worker's metrics on a port of their own; the API alone runs no worker.
  const metricsAddress = options.request.part === 'api' ? undefined : `127.0.0.1:${await freePort()}`;
  const child: ChildProcess = fork(path.join(ROOT, 'scripts/bench/service-process.ts'), [], {
    env: { ...process.env, WORKER_METRICS_ADDRESS: metricsAddress ?? '' },
    execArgv: [
      '--import',
      'tsx',
      // a reading of the open referrals' memory collects the main thread's garbage first (ServiceMemory.heapLive)
      '--expose-gc',
      ...(options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : []),
    ],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    if (gone()) return;
    child.send({ type: 'stop' } satisfies ServiceRequest);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };
  options.cleanups.push(stop);
  const failure = async (why: string) =>
    new Error(`${why}; its log (${logFile}):\n${(await readFile(logFile, 'utf8').catch(() => '')).slice(-4000)}`);

  const next = <T extends ServiceReply['type']>(type: T, timeoutMs: number) =>
    new Promise<Extract<ServiceReply, { type: T | 'failed' }>>((resolve, reject) => {
      const onMessage = (reply: ServiceReply) => {
        if (reply.type !== type && reply.type !== 'failed') return;
        cleanup();
        resolve(reply as Extract<ServiceReply, { type: T | 'failed' }>);
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`the service process exited (${child.signalCode ?? `exit ${child.exitCode}`})`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`the service process did not answer '${type}' within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });

  const ready = next('ready', 180_000);
  child.send(options.request);
  let reply: Awaited<typeof ready>;
  try {
    reply = await ready;
  } catch (error) {
    throw await failure(error instanceof Error ? error.message : String(error));
  }
  if (reply.type === 'failed') throw await failure(`the service did not start: ${reply.message}`);
  /**
   * A request and its reply. A process already gone is an error at once, not a wait for a timeout; a channel closed
   * while sending is an error of the request, not an uncaught 'error' event of the child.
   */
  const ask = async <T extends ServiceReply['type']>(type: T, request: ServiceRequest, timeoutMs: number) => {
    if (!child.connected) throw new Error(`the service process has exited: no '${type}' to ask for`);
    const answer = next(type, timeoutMs);
    const sent = new Promise<void>((resolve, reject) =>
      child.send(request, (error) => (error ? reject(error) : resolve())),
    );
    const [reply] = await Promise.all([answer, sent]);
    return reply;
  };
  return {
    apiUrl: reply.apiUrl ?? '',
    pids: [child.pid!],
    memory: async ({ collect = false } = {}) => {
      const memory = await ask('memory', { type: 'memory', collect }, 30_000);
      if (memory.type !== 'memory') throw new Error(memory.message);
      const { type: _, ...figures } = memory;
      return figures;
    },
    loopDelay: async () => {
      const reply = await ask('loop-delay', { type: 'loop-delay' }, 10_000);
      if (reply.type !== 'loop-delay') throw new Error(reply.message);
      return reply.delay;
    },
    workerMetrics: async () => {
      const reply = await ask('worker-metrics', { type: 'worker-metrics' }, 15_000);
      if (reply.type !== 'worker-metrics') throw new Error(reply.message);
      if (!reply.totals) throw new Error(reply.error ?? 'the service process serves no worker metrics');
      return reply.totals;
    },
    stop,
  };
}
