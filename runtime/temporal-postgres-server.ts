import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import pg from 'pg';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { freePort } from './free-port';
import { readLivePidFile, removePidFile, writePidFile } from './pid-file';
import { requirePortsFree } from './port-check';
import { processCommandLine, stopProcess } from './process-table';
import { ensureSearchAttributes } from './search-attributes';
import { spawnServer, stopServer, type ServerProcess } from './server-process';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where scripts/install-temporal-server.sh (`npm run tools:server`) puts the binaries and the schemas. */
export const TEMPORAL_SERVER_BIN_DIR = path.join(ROOT, '.tools/bin');
export const TEMPORAL_SCHEMA_DIR = path.join(ROOT, '.tools/temporal-schema/postgresql/v12');

/** The compose file's dynamic config (id length capped to the SQL schema's VARCHAR(255)), so both run alike. */
const COMPOSE_DYNAMIC_CONFIG = path.join(ROOT, 'deploy/temporal/dynamicconfig/sql.yaml');

/** The variable the generated config reads the password from: it is never written to disk. */
const PASSWORD_VARIABLE = 'TEMPORAL_POSTGRES_PASSWORD';

export interface PostgresEndpoint {
  host: string;
  port: number;
  /** needs the right to create databases the first time (the `temporal` and `temporal_visibility` databases) */
  user: string;
  password: string;
}

/** The endpoint of a `postgres://user:password@host:port/...` URL, such as `EmbeddedPostgresServer.url()`. */
export function postgresEndpointFromUrl(url: string): PostgresEndpoint {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** True when `npm run tools:server` has installed what startTemporalOnPostgres needs. */
export function temporalServerInstalled(binDir = TEMPORAL_SERVER_BIN_DIR, schemaDir = TEMPORAL_SCHEMA_DIR): boolean {
  return (
    existsSync(path.join(binDir, 'temporal-server')) &&
    existsSync(path.join(binDir, 'temporal-sql-tool')) &&
    existsSync(path.join(schemaDir, 'temporal/versioned')) &&
    existsSync(path.join(schemaDir, 'visibility/versioned'))
  );
}

export interface TemporalOnPostgresOptions {
  postgres: PostgresEndpoint;
  /** config, pid file and the server's log (`temporal-server.log`); the data itself lives in PostgreSQL */
  dataDir: string;
  /** the frontend's gRPC port on 127.0.0.1; a free one when left out. Every other port is always a free one. */
  frontendPort?: number | undefined;
  /** created with 72 h retention (as deploy/temporal/setup-namespace.sh does) if missing; `default` by default */
  namespace?: string | undefined;
  /**
   * Fixed when the `temporal` database is first set up: a later start with another count fails. 16 by default,
   * where the compose file's server runs 4: 16 keeps both cores busy under load.
   */
  historyShards?: number | undefined;
  /** `temporal` and `temporal_visibility` by default, as in the compose file */
  databases?: { main?: string | undefined; visibility?: string | undefined } | undefined;
  /** connection pool sizes; 20 and 10 by default, the server image's defaults */
  maxConns?: { main?: number | undefined; visibility?: number | undefined } | undefined;
  /**
   * More dynamic config on top of the compose file's, as key → value (constraints are not supported), e.g.
   * `{ 'frontend.namespaceRPS': 10000 }`. A key the compose file already sets is an error.
   */
  dynamicConfig?: Record<string, unknown> | undefined;
  /** the server's own log level in `temporal-server.log`; `warn` by default */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | undefined;
  /** folder holding `temporal-server` and `temporal-sql-tool`; the project's tools folder by default */
  binDir?: string | undefined;
  /** the `postgresql/v12` schema folder; the project's tools folder by default */
  schemaDir?: string | undefined;
  /** progress lines: schema, start, namespace, timings */
  log?: ((line: string) => void) | undefined;
}

export interface TemporalOnPostgres {
  /** `127.0.0.1:<frontendPort>`, for `Connection.connect` / `NativeConnection.connect` */
  address: string;
  namespace: string;
  /** the server's own output */
  logFile: string;
  /** SIGTERM, then SIGKILL if it is still there after 15 s; resolves when the process is gone */
  stop: () => Promise<void>;
}

/**
 * The production topology's Temporal server (docker-compose.yml's temporalio/server:1.29.1 on PostgreSQL) as a
 * local process, for the tests and the benchmark: the two databases created and migrated with temporal-sql-tool,
 * a config generated here (loopback ports only, the password read from the environment), the server started and
 * owned by this process, then the namespace and the referral search attributes registered. Returns once a client
 * can start referral workflows that use those attributes.
 */
export async function startTemporalOnPostgres(options: TemporalOnPostgresOptions): Promise<TemporalOnPostgres> {
  const log = options.log ?? (() => {});
  const binDir = options.binDir ?? TEMPORAL_SERVER_BIN_DIR;
  const schemaDir = options.schemaDir ?? TEMPORAL_SCHEMA_DIR;
  if (!temporalServerInstalled(binDir, schemaDir)) {
    throw new Error(`no Temporal server in ${binDir} (or no schemas in ${schemaDir}): run \`npm run tools:server\``);
  }
  const namespace = options.namespace ?? 'default';
  const databases = {
    main: options.databases?.main ?? 'temporal',
    visibility: options.databases?.visibility ?? 'temporal_visibility',
  };
  const dataDir = path.resolve(options.dataDir);
  const configDir = path.join(dataDir, 'config');
  const pidFile = path.join(dataDir, 'temporal-server.pid');
  const logFile = path.join(dataDir, 'temporal-server.log');
  await mkdir(path.join(configDir, 'dynamicconfig'), { recursive: true });
  const stoppedLeftover = await stopLeftover(pidFile, dataDir, log);

  let started = Date.now();
  await createDatabases(options.postgres, Object.values(databases));
  await migrateSchema(
    path.join(binDir, 'temporal-sql-tool'),
    options.postgres,
    databases.main,
    `${schemaDir}/temporal`,
  );
  await migrateSchema(
    path.join(binDir, 'temporal-sql-tool'),
    options.postgres,
    databases.visibility,
    `${schemaDir}/visibility`,
  );
  log(`Temporal schema up to date in ${Date.now() - started} ms`);

  const ports = {
    frontend: options.frontendPort ?? (await freePort()),
    frontendHttp: await freePort(),
    frontendMembership: await freePort(),
    history: await freePort(),
    historyMembership: await freePort(),
    matching: await freePort(),
    matchingMembership: await freePort(),
    worker: await freePort(),
    workerMembership: await freePort(),
  };
  // The process table shows a leftover gone while its last threads still close its sockets.
  await requirePortsFree([{ port: ports.frontend }], 'Temporal server', { withinMs: stoppedLeftover ? 5_000 : 0 });
  const dynamicConfigFile = path.join(configDir, 'dynamicconfig', 'sql.yaml');
  await writeFile(dynamicConfigFile, await dynamicConfig(options.dynamicConfig ?? {}));
  await writeFile(
    path.join(configDir, 'development.yaml'),
    serverConfig({
      postgres: options.postgres,
      databases,
      shards: options.historyShards ?? 16,
      maxConns: { main: options.maxConns?.main ?? 20, visibility: options.maxConns?.visibility ?? 10 },
      ports,
      logLevel: options.logLevel ?? 'warn',
      dynamicConfigFile,
    }),
    { mode: 0o600 },
  );

  started = Date.now();
  const child = spawnServer(
    path.join(binDir, 'temporal-server'),
    ['--root', dataDir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
    {
      stopSignal: 'SIGTERM',
      // Not our environment (API keys, tokens): a PATH, and the one secret the config reads.
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', [PASSWORD_VARIABLE]: options.postgres.password },
    },
  );
  // Shutdown drains the services and leaves the membership ring; under load it takes a few seconds.
  const stop = async () => {
    await stopServer(child, { signal: 'SIGTERM', forceSignal: 'SIGKILL', graceMs: 15_000 });
    await removePidFile(pidFile);
  };
  const output = captureOutput(child, logFile);
  try {
    if (child.pid) await writePidFile(pidFile, child.pid);
    const address = `127.0.0.1:${ports.frontend}`;
    await waitUntilServing(child, address, output.tail, logFile);
    log(`Temporal server serving on ${address} ${Date.now() - started} ms after start`);
    started = Date.now();
    await prepareNamespace(address, namespace, child, output.tail);
    log(`namespace ${namespace} and its search attributes ready in ${Date.now() - started} ms`);
    return { address, namespace, logFile, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function serverConfig(settings: {
  postgres: PostgresEndpoint;
  databases: { main: string; visibility: string };
  shards: number;
  maxConns: { main: number; visibility: number };
  ports: Record<
    | 'frontend'
    | 'frontendHttp'
    | 'frontendMembership'
    | 'history'
    | 'historyMembership'
    | 'matching'
    | 'matchingMembership'
    | 'worker'
    | 'workerMembership',
    number
  >;
  logLevel: string;
  dynamicConfigFile: string;
}): string {
  // Strings go in as JSON, which YAML reads as double-quoted scalars, so no value can break the document.
  const q = (value: string) => JSON.stringify(value);
  const { postgres, ports } = settings;
  const store = (database: string, maxConns: number) => `      sql:
        pluginName: "postgres12"
        databaseName: ${q(database)}
        connectAddr: ${q(`${postgres.host}:${postgres.port}`)}
        connectProtocol: "tcp"
        user: ${q(postgres.user)}
        password: {{ env "${PASSWORD_VARIABLE}" | toJson }}
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const service = (grpc: number, membership: number, http?: number) => `    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnIP: "127.0.0.1"${http === undefined ? '' : `\n      httpPort: ${http}`}`;
  // The first line turns on the server's own templating (sprig, `env`), used only for the password: the file on
  // disk holds no secret, and nothing renders the config for us (`render-config` masks secrets, and a masked value
  // read back breaks the server).
  return `# enable-template
# Generated by runtime/temporal-postgres-server.ts after docker/config_template.yaml of temporalio/server:1.29.1
# with the compose file's settings (DB=postgres12); every port on 127.0.0.1.
log:
  stdout: true
  level: ${q(settings.logLevel)}

persistence:
  numHistoryShards: ${settings.shards}
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:
${store(settings.databases.main, settings.maxConns.main)}
    visibility:
${store(settings.databases.visibility, settings.maxConns.visibility)}

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  pprof:
    port: 0

services:
  frontend:
${service(ports.frontend, ports.frontendMembership, ports.frontendHttp)}
  matching:
${service(ports.matching, ports.matchingMembership)}
  history:
${service(ports.history, ports.historyMembership)}
  worker:
${service(ports.worker, ports.workerMembership)}

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.frontend}"
      httpAddress: "127.0.0.1:${ports.frontendHttp}"

dcRedirectionPolicy:
  policy: "noop"

dynamicConfigClient:
  filepath: ${q(settings.dynamicConfigFile)}
  pollInterval: "60s"
`;
}

async function dynamicConfig(extra: Record<string, unknown>): Promise<string> {
  const base = await readFile(COMPOSE_DYNAMIC_CONFIG, 'utf8');
  const taken = new Set([...base.matchAll(/^([^\s#][^:]*):/gm)].map((match) => match[1]));
  const lines = Object.entries(extra).map(([key, value]) => {
    if (taken.has(key)) throw new Error(`dynamic config ${key} is set by ${COMPOSE_DYNAMIC_CONFIG} already`);
    // JSON is YAML: one line per key, whatever the value.
    return `${JSON.stringify(key)}: ${JSON.stringify([{ value, constraints: {} }])}`;
  });
  return `${base.trimEnd()}\n${lines.join('\n')}\n`;
}

async function createDatabases(postgres: PostgresEndpoint, names: string[]): Promise<void> {
  const client = new pg.Client({ ...postgres, database: 'postgres' });
  await client.connect();
  try {
    for (const name of names) {
      const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
    }
  } finally {
    await client.end();
  }
}

/**
 * As deploy/temporal/setup-schema.sh: `setup-schema -v 0.0` makes the version table on a new database and does
 * nothing on one that has it, then `update-schema` applies the versions above the recorded one.
 */
async function migrateSchema(tool: string, postgres: PostgresEndpoint, database: string, schema: string) {
  const connection = [
    '--plugin',
    'postgres12',
    '--ep',
    postgres.host,
    '--port',
    String(postgres.port),
    '--user',
    postgres.user,
    '--db',
    database,
  ];
  // The password through the environment the tool reads it from, not on a command line anyone can list.
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', SQL_PASSWORD: postgres.password };
  await run(tool, [...connection, 'setup-schema', '-v', '0.0'], env);
  await run(tool, [...connection, 'update-schema', '-d', path.join(schema, 'versioned')], env);
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let output = '';
    const collect = (chunk: Buffer) => {
      if (output.length < 20_000) output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `${path.basename(command)} ${args.slice(-3).join(' ')} failed (${signal ?? `exit ${code}`}): ${output.trim()}`,
            ),
          ),
    );
  });
}

/** Everything the server prints goes to the log file; the last few KB stay at hand for error messages. */
function captureOutput(child: ServerProcess, logFile: string): { tail: () => string } {
  const file = createWriteStream(logFile, { flags: 'a', mode: 0o644 });
  file.on('error', () => undefined);
  let tail = '';
  const keep = (chunk: Buffer) => {
    file.write(chunk);
    tail = (tail + chunk.toString()).slice(-4_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('exit', () => file.end());
  return { tail: () => tail };
}

/** A server on this folder that a killed run left behind: the pid file names it, its `--root` confirms. */
async function stopLeftover(pidFile: string, root: string, log: (line: string) => void): Promise<boolean> {
  const leftover = await readLivePidFile(pidFile);
  if (!leftover || !processCommandLine(leftover.pid)?.includes(root)) return false;
  log(`stopping the Temporal server (pid ${leftover.pid}) an earlier run left on ${root}`);
  await stopProcess(leftover.pid, { signal: 'SIGTERM', forceSignal: 'SIGKILL', graceMs: 15_000 });
  await removePidFile(pidFile);
  return true;
}

const exitedWith = (child: ServerProcess): string | undefined =>
  child.exitCode !== null || child.signalCode !== null ? (child.signalCode ?? `exit ${child.exitCode}`) : undefined;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntilServing(child: ServerProcess, address: string, tail: () => string, logFile: string) {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const exited = exitedWith(child);
    if (exited) throw new Error(`Temporal server exited (${exited}); ${logFile} ends with: ${tail().trim()}`);
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000 });
      const connected = connection;
      // The port opens before the membership ring has settled; cluster info comes from the history service too.
      await connected.withDeadline(Date.now() + 2_000, () => connected.workflowService.getSystemInfo({}));
      return;
    } catch {
      await pause(250);
    } finally {
      await connection?.close().catch(() => undefined);
    }
  }
  throw new Error(`Temporal server did not answer on ${address} within 90 s; see ${logFile}`);
}

/**
 * The namespace, then the search attributes, then a wait until the frontend resolves them in a query: workflows
 * started before that would be refused for using unknown attributes. Each step is retried, because right after
 * the namespace is created the operator service answers "Namespace default is not found" for several seconds.
 */
async function prepareNamespace(address: string, namespace: string, child: ServerProcess, tail: () => string) {
  const connection = await Connection.connect({ address });
  try {
    const retrying = async (what: string, step: () => Promise<unknown>) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const exited = exitedWith(child);
        if (exited) throw new Error(`Temporal server exited (${exited}) during ${what}: ${tail().trim()}`);
        try {
          await step();
          return;
        } catch (error) {
          if (Date.now() > deadline) throw new Error(`${what} failed for 60 s: ${(error as Error).message}`);
          await pause(500);
        }
      }
    };
    await retrying(`namespace ${namespace}`, async () => {
      try {
        await connection.workflowService.describeNamespace({ namespace });
      } catch {
        await connection.workflowService
          .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('72h') })
          .catch((error: Error) => {
            if (!/already exists/i.test(error.message)) throw error;
          });
      }
    });
    await retrying('the referral search attributes', () => ensureSearchAttributes(connection, namespace));
    const query = REFERRAL_SEARCH_ATTRIBUTES.map((key) => `${key.name} = "probe"`).join(' AND ');
    await retrying('a query on the referral search attributes', () =>
      connection.workflowService.countWorkflowExecutions({ namespace, query }),
    );
  } finally {
    await connection.close();
  }
}
