import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

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

/**
 * `temporal server start-dev` on a SQLite file, so referrals survive restarts. WAL with synchronous=normal doubles
 * starts and triples signals on a small machine; the last writes can be lost on a power cut, never on a crash.
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
  log?: (line: string) => void;
}): Promise<DevServer> {
  const args = [
    'server',
    'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(options.port),
    ...(options.uiPort ? ['--ui-port', String(options.uiPort)] : ['--headless']),
    '--http-port', String(options.httpPort ?? options.port + 10),
    '--metrics-port', String(options.metricsPort ?? options.port + 20),
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
    '--namespace', 'default',
    '--sqlite-pragma', 'journal_mode=wal',
    '--sqlite-pragma', 'synchronous=normal',
    '--log-level', 'warn',
    ...REFERRAL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]),
  ];
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the server after the worker has drained.
  const child = spawn(requireCli(options.cliPath ?? DEFAULT_CLI_PATH), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const forward = (chunk: Buffer) => options.log?.(chunk.toString().trimEnd());
  child.stdout?.on('data', forward);
  child.stderr?.on('data', forward);
  const address = `127.0.0.1:${options.port}`;
  await waitUntilServing(child, address);
  return { address, uiUrl: options.uiPort ? `http://localhost:${options.uiPort}` : null, stop: () => stopProcess(child) };
}

async function waitUntilServing(child: ChildProcess, address: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal dev server exited with ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.getSystemInfo({}));
      await connection.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`temporal dev server did not answer on ${address} within 60 s`);
}

/** SIGTERM, then wait for the process to be gone: a new server on the same file before then fails with SQLITE_BUSY. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
