/**
 * The production shape on this machine, every part a real process the chaos run can kill: PostgreSQL (embedded),
 * Temporal (the dev server on its SQLite file, or the Temporal server on that same PostgreSQL), the worker
 * (`worker.ts`) and the API (`api/server.ts`) as their own processes on fixed loopback ports, so each can die and come
 * back where the others expect it. Whatever it starts it stops, also when the run is interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { createDatabase, type DB } from '../../db/connection';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../db/embedded-postgres';
import { migrateToLatest } from '../../db/migrate';
import { freePort } from '../../runtime/free-port';
import { readLivePidFile } from '../../runtime/pid-file';
import { isRunning } from '../../runtime/process-table';
import { findSetpriv } from '../../runtime/server-process';
import { startDevServer } from '../../runtime/temporal-dev-server';
import { buildWorkflowBundle } from '../../runtime/workflow-bundle';
import type { TemporalOnPostgres } from '../../runtime/temporal-postgres-server';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DATABASE = 'referrals';

export type TemporalChoice = 'dev' | 'postgres';

export interface ChaosStack {
  temporalKind: TemporalChoice;
  apiUrl: string;
  keys: { admin: string; commerce: string };
  databaseUrl: string;
  /** the harness's own pool, for the final reads (it rides out the outages like any client) */
  db: DB;
  temporal: () => Promise<Client>;
  versions: { node: string; postgres: string; temporal: string };
  worker: ManagedProcess;
  api: ManagedProcess;
  /** the real postmaster: fast shutdown (SIGINT), then started again on the same cluster */
  stopPostgres: () => Promise<void>;
  startPostgres: () => Promise<void>;
  stopTemporal: () => Promise<void>;
  startTemporal: () => Promise<void>;
  /** SIGKILL to every process of the stack in the same instant, as when the machine dies */
  killEverything: () => void;
  /** after killEverything: PostgreSQL, Temporal, the worker, the API, in that order */
  startEverything: () => Promise<void>;
  /** exits nobody asked for (a process that died on its own), restarted meanwhile */
  unplannedExits: () => Array<{ process: string; at: string; how: string }>;
  stop: () => Promise<void>;
}

export interface ManagedProcess {
  name: string;
  pid: () => number | undefined;
  /** SIGKILL: no handler runs, nothing is drained */
  kill: () => Promise<void>;
  /** SIGKILL sent in this very instant (from inside a response handler), without waiting for the exit */
  killNow: () => void;
  start: () => Promise<void>;
  running: () => boolean;
}

export async function startChaosStack(options: {
  dir: string;
  temporal: TemporalChoice;
  log: (line: string) => void;
  cleanups: Array<() => Promise<void>>;
}): Promise<ChaosStack> {
  const { dir, log, cleanups } = options;
  await mkdir(dir, { recursive: true });
  const ports = {
    postgres: await freePort(),
    temporal: await freePort(),
    temporalHttp: await freePort(),
    temporalMetrics: await freePort(),
    api: await freePort(),
  };
  const bundle = await workflowBundle(log);

  // --- PostgreSQL ---
  let postgres: EmbeddedPostgresServer | undefined;
  const pgDir = path.join(dir, 'postgres');
  const startPostgres = async () => {
    postgres = await startEmbeddedPostgres({ dataDir: pgDir, port: ports.postgres });
  };
  await startPostgres();
  // remove(), not stop(): as root the cluster lives outside `dir`, and would be left behind.
  cleanups.push(async () => {
    await postgres?.remove();
  });
  await postgres!.createDatabase(DATABASE);
  const databaseUrl = postgres!.url(DATABASE);
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number(readFileSync(path.join(postgres!.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  // --- Temporal ---
  let temporalStop: (() => Promise<void>) | undefined;
  let temporalPidFile = '';
  let namespace = 'default';
  let temporalAddress = `127.0.0.1:${ports.temporal}`;
  const onPostgres =
    options.temporal === 'postgres' ? await import('../../runtime/temporal-postgres-server') : undefined;
  if (onPostgres && !onPostgres.temporalServerInstalled()) {
    throw new Error('--temporal postgres needs the Temporal server: run `npm run tools:server` once');
  }
  const startTemporal = async () => {
    if (onPostgres) {
      const server: TemporalOnPostgres = await onPostgres.startTemporalOnPostgres({
        postgres: onPostgres.postgresEndpointFromUrl(postgres!.url()),
        dataDir: path.join(dir, 'temporal-server'),
        frontendPort: ports.temporal,
        log: (line) => log(`temporal server: ${line}`),
      });
      temporalStop = server.stop;
      namespace = server.namespace;
      temporalAddress = server.address;
      temporalPidFile = path.join(dir, 'temporal-server', 'temporal-server.pid');
    } else {
      const dbFile = path.join(dir, 'temporal.db');
      // While it is down, another process on this machine may take one of its ports. Nothing connects to the HTTP
      // and metrics ports, so those move; the frontend port is the one everything dials, so it is waited for.
      for (let attempt = 1; ; attempt += 1) {
        try {
          const dev = await startDevServer({
            dbFile,
            port: ports.temporal,
            httpPort: ports.temporalHttp,
            metricsPort: ports.temporalMetrics,
            onSpawned: (stop) => {
              temporalStop = stop;
            },
          });
          temporalAddress = dev.address;
          break;
        } catch (error) {
          if (attempt >= 5 || !String(error).includes('address already in use')) throw error;
          log(`temporal dev server: a port was taken while it was down (attempt ${attempt}); trying again`);
          ports.temporalHttp = await freePort();
          ports.temporalMetrics = await freePort();
          await new Promise((resolve) => setTimeout(resolve, 2_000));
        }
      }
      temporalPidFile = `${dbFile}.pid`;
    }
  };
  // Supervised as compose supervises it (`restart: unless-stopped`): the Temporal server exits on its own when its
  // database goes away while it starts (the scanner of its worker service, "context deadline exceeded"), and nothing
  // would serve again. Each such exit is recorded as unplanned, like the worker's and the API's.
  let temporalSupervised = false;
  let temporalRestart: Promise<void> | undefined;
  const startTemporalSupervised = async () => {
    await startTemporal();
    temporalSupervised = true;
  };
  const stopTemporal = async () => {
    temporalSupervised = false;
    await temporalRestart;
    await temporalStop?.();
  };
  await startTemporalSupervised();
  cleanups.push(stopTemporal);
  const temporalPid = async () => (await readLivePidFile(temporalPidFile))?.pid;

  const db = createDatabase(databaseUrl, { max: 4 });
  cleanups.push(() => db.destroy());
  await migrateToLatest(db);

  const secret = () => randomBytes(18).toString('base64url');
  const keys = { admin: secret(), commerce: secret() };
  const environment = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: namespace,
    API_KEYS: `chaos-admin:admin:${keys.admin},chaos-commerce:commerce:${keys.commerce}`,
    PORT: String(ports.api),
    LOG_LEVEL: 'info',
    WORKFLOW_BUNDLE_PATH: bundle,
  });
  const unplanned: Array<{ process: string; at: string; how: string }> = [];
  let temporalDown = false;
  let killedTemporal: number | undefined;
  const temporalWatch = setInterval(() => {
    if (!temporalSupervised || temporalRestart) return;
    void temporalPid().then((pid) => {
      if (pid !== undefined || !temporalSupervised || temporalRestart) return;
      if (!temporalDown) {
        temporalDown = true;
        unplanned.push({ process: 'temporal', at: new Date().toISOString(), how: 'exited' });
        log('temporal: exited on its own; starting it again, as a supervisor would');
      }
      // a start that fails (its database still down) is made again on a later tick
      temporalRestart = startTemporal()
        .then(() => {
          temporalDown = false;
        })
        .catch((error: unknown) => log(`temporal: could not start again: ${String(error)}`))
        .finally(() => {
          temporalRestart = undefined;
        });
    });
  }, 1_000);
  cleanups.push(async () => {
    temporalSupervised = false;
    clearInterval(temporalWatch);
    await temporalRestart;
  });
  const worker = managedProcess({
    name: 'worker',
    entry: 'worker.ts',
    readyLine: '"worker running"',
    environment,
    logFile: path.join(dir, 'worker.log'),
    onUnplannedExit: (how) => unplanned.push({ process: 'worker', at: new Date().toISOString(), how }),
  });
  const api = managedProcess({
    name: 'api',
    entry: 'api/server.ts',
    readyLine: '"api listening"',
    environment,
    logFile: path.join(dir, 'api.log'),
    onUnplannedExit: (how) => unplanned.push({ process: 'api', at: new Date().toISOString(), how }),
  });
  cleanups.push(worker.stop, api.stop);
  await worker.handle.start();
  await api.handle.start();

  let client: { connection: Connection; client: Client } | undefined;
  cleanups.push(async () => {
    await client?.connection.close();
  });
  const temporal = async () => {
    if (!client) {
      const connection = await Connection.connect({ address: temporalAddress });
      client = { connection, client: new Client({ connection, namespace }) };
    }
    return client.client;
  };

  const versions = {
    node: process.version,
    postgres: await serverVersion(db),
    temporal: onPostgres ? 'temporal-server 1.29.1 on PostgreSQL' : 'temporal CLI dev server (SQLite, WAL)',
  };

  return {
    temporalKind: options.temporal,
    apiUrl: `http://127.0.0.1:${ports.api}`,
    keys,
    databaseUrl,
    db,
    temporal,
    versions,
    worker: worker.handle,
    api: api.handle,
    stopPostgres: async () => {
      await postgres?.stop();
    },
    startPostgres,
    stopTemporal,
    startTemporal: async () => {
      await temporalRestart;
      if (!temporalSupervised) await startTemporalSupervised();
    },
    killEverything: () => {
      temporalSupervised = false;
      const pids = [worker.handle.pid(), api.handle.pid()];
      const postmaster = postmasterPid();
      if (postmaster) pids.push(postmaster, ...childrenOf(postmaster));
      const temporalServer = readTemporalPidSync(temporalPidFile);
      killedTemporal = temporalServer;
      if (temporalServer) pids.push(temporalServer);
      worker.expectExit();
      api.expectExit();
      for (const pid of pids) {
        if (pid === undefined) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    startEverything: async () => {
      await waitGone([postmasterPid(), killedTemporal]);
      // a restart by the supervision that raced the kill: stopped, so everything starts again in order
      await temporalRestart;
      if ((await temporalPid()) !== undefined) await temporalStop?.();
      await startPostgres();
      await startTemporalSupervised();
      // side by side: each takes seconds of CPU to load, and neither waits for the other in production
      await Promise.all([worker.handle.start(), api.handle.start()]);
    },
    unplannedExits: () => [...unplanned],
    stop: async () => {
      while (cleanups.length > 0) {
        const cleanup = cleanups.pop()!;
        await cleanup().catch((error: unknown) => log(`cleanup: ${String(error)}`));
      }
    },
  };
}

async function serverVersion(db: DB): Promise<string> {
  const { sql } = await import('kysely');
  const result = await sql<{ server_version: string }>`show server_version`.execute(db);
  return result.rows[0]?.server_version ?? 'unknown';
}

/** The pid a pid file names (JSON with the pid and its start time, as runtime/pid-file.ts writes it), if alive. */
function readTemporalPidSync(file: string): number | undefined {
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown };
    return typeof record.pid === 'number' && isRunning(record.pid) ? record.pid : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL's backends make themselves group leaders: they are found by their parent, not by process group. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

async function waitGone(pids: Array<number | undefined>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (pids.some((pid) => pid !== undefined && isRunning(pid))) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(', ')} still there 30 s after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A Node entry point of the project in a process of its own, restartable. It dies with the harness (SIGKILL through
 * PR_SET_PDEATHSIG, where setpriv has --pdeathsig) so a killed run leaves no worker or API behind; an exit nobody
 * asked for is recorded and the process started again, as a supervisor would.
 */
function managedProcess(options: {
  name: string;
  entry: string;
  readyLine: string;
  environment: () => NodeJS.ProcessEnv;
  logFile: string;
  onUnplannedExit: (how: string) => void;
}) {
  let child: ChildProcess | undefined;
  let expected = false;
  let stopping = false;
  let log: WriteStream | undefined;
  const setpriv = findSetpriv(process.env.PATH ?? '');
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;

  // A process that exits while it starts (say the worker, when Temporal on PostgreSQL answers before its hosts serve)
  // is started again at once, as a supervisor would, a few times; each such exit is recorded as unplanned. At once:
  // the supervisor's own restart after an exit sees the new process and leaves it be.
  const start = async (): Promise<void> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await startOnce();
      } catch (error) {
        if (attempt >= 5 || stopping || !String(error).includes('before it was ready')) throw error;
      }
    }
  };
  const startOnce = async (): Promise<void> => {
    if (running()) return;
    log ??= createWriteStream(options.logFile, { flags: 'a' });
    expected = false;
    const args = ['--import', 'tsx', path.join(ROOT, options.entry)];
    const [file, argv] = setpriv
      ? [setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, ...args]]
      : [process.execPath, args];
    const spawned = spawn(file, argv, { cwd: ROOT, env: options.environment(), stdio: ['ignore', 'pipe', 'pipe'] });
    child = spawned;
    spawned.stdout.pipe(log, { end: false });
    spawned.stderr.pipe(log, { end: false });
    spawned.once('exit', (code, signal) => {
      if (expected || stopping) return;
      const how = signal ?? `exit ${code}`;
      options.onUnplannedExit(how);
      // Started again a moment later, as a supervisor would; a process that cannot start is retried on the next exit.
      setTimeout(() => {
        if (!stopping && child === spawned) start().catch(() => undefined);
      }, 1_000);
    });
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${options.name} did not say it was ready within 120 s (see ${options.logFile})`));
      }, 120_000);
      const onData = (chunk: Buffer) => {
        seen = (seen + chunk.toString()).slice(-4_000);
        if (seen.includes(options.readyLine)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        reject(
          new Error(`${options.name} exited (${signal ?? `exit ${code}`}) before it was ready: ${seen.slice(-1500)}`),
        );
      };
      const cleanup = () => {
        clearTimeout(timer);
        spawned.stdout.off('data', onData);
        spawned.off('exit', onExit);
      };
      spawned.stdout.on('data', onData);
      spawned.once('exit', onExit);
    });
  };

  const killNow = (): void => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    expected = true;
    child.kill('SIGKILL');
  };
  const kill = async (): Promise<void> => {
    const current = child;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    expected = true;
    current.kill('SIGKILL');
    await exited;
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    const current = child;
    if (current && running()) {
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.kill('SIGTERM');
      const timer = setTimeout(() => current.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    log?.end();
  };

  return {
    handle: {
      name: options.name,
      pid: () => (running() ? child?.pid : undefined),
      killNow,
      kill,
      start,
      running,
    } satisfies ManagedProcess,
    stop,
    expectExit: () => {
      expected = true;
    },
  };
}

/**
 * The workflow bundle built once per version of the workflow code (a hash of `workflows/` and of how they are bundled),
 * so a restarted worker polls within seconds instead of bundling for tens of seconds on a busy machine.
 */
async function workflowBundle(log: (line: string) => void): Promise<string> {
  const hash = createHash('sha256');
  const folder = path.join(ROOT, 'workflows');
  for (const file of readdirSync(folder).sort()) hash.update(file).update(readFileSync(path.join(folder, file)));
  for (const file of ['package-lock.json', 'runtime/workflow-bundle.ts', 'scripts/bundle-workflows.ts'])
    hash.update(readFileSync(path.join(ROOT, file)));
  const file = path.join(ROOT, '.data/chaos/bundles', `workflows-${hash.digest('hex').slice(0, 16)}.js`);
  if (existsSync(file)) return file;
  log('bundling the workflows once for this version of their code');
  const { code } = await buildWorkflowBundle();
  await mkdir(path.dirname(file), { recursive: true });
  // written whole, then named: a run stopped while writing leaves no half bundle that a later run would take
  const partial = `${file}.${process.pid}.partial`;
  try {
    await writeFile(partial, code);
    await rename(partial, file);
  } finally {
    await rm(partial, { force: true });
  }
  return file;
}
