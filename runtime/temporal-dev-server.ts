import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

// the CLI's names for the search attribute types the project uses
const CLI_TYPE: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};
import { readLivePidFile, removePidFile, writePidFile } from './pid-file';
import { requirePortsFree } from './port-check';
import { processCommandLine, stopProcess } from './process-table';
import { spawnServer, stopServer, type ServerProcess } from './server-process';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The Temporal CLI installed by scripts/install-temporal-tools.sh, unless the caller names another. */
const DEFAULT_CLI_PATH = path.join(ROOT, '.tools/bin/temporal');

function requireCli(candidate: string): string {
  if (!existsSync(candidate)) {
    throw new Error(`no Temporal CLI at ${candidate}: run \`npm run tools\` or set TEMPORAL_CLI_PATH`);
  }
  return candidate;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  stop: () => Promise<void>;
}

/** The variables that choose each port, named in the error when a port is taken. */
export type DevServerPortSettings = Partial<Record<'port' | 'uiPort' | 'httpPort' | 'metricsPort', string>>;

/**
 * `temporal server start-dev` on a SQLite file, so referrals survive restarts. WAL with synchronous=normal doubles
 * starts and triples signals on a small machine; the last writes can be lost on a power cut, never on a crash.
 *
 * The server is ours alone: one left running on the same file by a killed run is stopped first (a pid file next to
 * the SQLite file names it), a port held by anything else is an error, and the server dies with this process.
 */
export async function startDevServer(options: {
  /** the `temporal` binary; the project's tools folder by default */
  cliPath?: string | undefined;
  /** SQLite file for persistent state; in memory when left out */
  dbFile?: string;
  port: number;
  httpPort?: number | undefined;
  metricsPort?: number | undefined;
  /** Web UI port; no UI when left out */
  uiPort?: number;
  portSettings?: DevServerPortSettings;
  log?: (line: string) => void;
  /** dynamic config values, e.g. `{ 'frontend.enableSchedules': false }`: a server that refuses what production may */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** called as soon as the server is spawned, before it serves, with what stops it */
  onSpawned?: (stop: () => Promise<void>) => void;
}): Promise<DevServer> {
  const httpPort = options.httpPort ?? options.port + 10;
  const metricsPort = options.metricsPort ?? options.port + 20;
  const pidFile = options.dbFile ? `${options.dbFile}.pid` : undefined;
  const stoppedLeftover = pidFile && options.dbFile ? await stopLeftover(pidFile, options.dbFile, options.log) : false;
  const settings = options.portSettings ?? {};
  await requirePortsFree(
    [
      { port: options.port, setting: settings.port },
      ...(options.uiPort ? [{ port: options.uiPort, setting: settings.uiPort }] : []),
      { port: httpPort, setting: settings.httpPort },
      { port: metricsPort, setting: settings.metricsPort },
    ],
    'Temporal dev server',
    // The process table shows the leftover gone while its last threads still close its sockets.
    { withinMs: stoppedLeftover ? 5_000 : 0 },
  );

  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
    '--namespace',
    'default',
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    '--log-level',
    'warn',
    ...REFERRAL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE[key.type]}`]),
    // the CLI reads each value as JSON
    ...Object.entries(options.dynamicConfig ?? {}).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
  ];
  const child = spawnServer(requireCli(options.cliPath ?? DEFAULT_CLI_PATH), args, { stopSignal: 'SIGTERM' });
  // After SIGTERM it needs a moment to exit: a new server on the same file before then fails with SQLITE_BUSY.
  const stop = async () => {
    await stopServer(child, { signal: 'SIGTERM', forceSignal: 'SIGKILL', graceMs: 10_000 });
    if (pidFile) await removePidFile(pidFile);
  };
  options.onSpawned?.(stop);
  let output = '';
  const forward = (chunk: Buffer) => {
    if (output.length < 10_000) output += chunk.toString();
    options.log?.(chunk.toString().trimEnd());
  };
  child.stdout.on('data', forward);
  child.stderr.on('data', forward);
  if (pidFile && child.pid) await writePidFile(pidFile, child.pid);
  const address = `127.0.0.1:${options.port}`;
  await waitUntilServing(child, address, () => output);
  return {
    address,
    uiUrl: options.uiPort ? `http://localhost:${options.uiPort}` : null,
    stop,
  };
}

/** A dev server on this SQLite file that a killed run left behind: the pid file names it, its command line confirms. */
/** Whether there was a leftover to stop. */
async function stopLeftover(
  pidFile: string,
  dbFile: string,
  log: ((line: string) => void) | undefined,
): Promise<boolean> {
  const leftover = await readLivePidFile(pidFile);
  if (!leftover || !processCommandLine(leftover.pid)?.includes(dbFile)) return false;
  log?.(`stopping the Temporal dev server (pid ${leftover.pid}) an earlier run left on ${dbFile}`);
  await stopProcess(leftover.pid, { signal: 'SIGTERM', forceSignal: 'SIGKILL', graceMs: 10_000 });
  await removePidFile(pidFile);
  return true;
}

async function waitUntilServing(child: ServerProcess, address: string, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `temporal dev server exited (${child.signalCode ?? `exit ${child.exitCode}`}): ${output().trim()}`,
      );
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000 });
      const connected = connection;
      await connected.withDeadline(Date.now() + 2_000, () => connected.workflowService.getSystemInfo({}));
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      // every attempt's connection, answered or not
      await connection?.close().catch(() => undefined);
    }
  }
  child.kill('SIGKILL');
  throw new Error(`temporal dev server did not answer on ${address} within 60 s`);
}
