import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../db/embedded-postgres';
import { loadConfig } from '../../runtime/config';
import { freePort } from '../../runtime/free-port';
import { writePidFile } from '../../runtime/pid-file';
import { postgresBinaries } from '../../runtime/postgres-binaries';
import { RELOCATED_CLUSTERS, removeCluster } from '../../runtime/postgres-data-folder';
import { postgresUser } from '../../runtime/postgres-user';
import { isRunning, processStartTicks, stopProcess } from '../../runtime/process-table';
import { startDevServer } from '../../runtime/temporal-dev-server';

/**
 * A server left running by a run that was killed before it could stop it (where the parent-death signal did not
 * reach it): the next start on the same files finds it, stops it, and takes its place; a process that merely has
 * the pid written in a stale pid file is left alone.
 */
let dir: string;
/** Every process a test started, by pid and start time: what a failed test leaves is killed after it. */
const started: Array<{ pid: number; startTicks: string | undefined }> = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-leftovers-'));
});
afterEach(async () => {
  for (const { pid, startTicks } of started.splice(0)) {
    if (startTicks === undefined || processStartTicks(pid) !== startTicks) continue;
    // its own process group (detached): the server and whatever it started
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await stopProcess(pid, { signal: 'SIGKILL', forceSignal: 'SIGKILL', graceMs: 2_000 });
  }
});
afterAll(async () => {
  // as root the cluster lives outside the folder: a test that failed before removing it leaves it there
  const cluster = await readlink(path.join(dir, 'postgres')).catch(() => undefined);
  if (cluster?.startsWith(`${RELOCATED_CLUSTERS}/`)) await removeCluster(path.join(dir, 'postgres'), cluster);
  await rm(dir, { recursive: true, force: true });
});

/** Started the way a killed run would leave it: detached, and nothing that stops it when we go. */
function leftover(command: string, args: string[], user?: { uid: number; gid: number }) {
  const child = spawn(command, args, { detached: true, stdio: 'ignore', cwd: '/', ...user });
  child.unref();
  started.push({ pid: child.pid!, startTicks: processStartTicks(child.pid!) });
  return child.pid!;
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('servers left behind by a killed start', () => {
  it('given a Temporal dev server left running on the same SQLite file, when the dev server starts, then the leftover is stopped and the new server takes its port', async () => {
    const dbFile = path.join(dir, 'temporal.db');
    const ports = { port: await freePort(), httpPort: await freePort(), metricsPort: await freePort() };
    const old = leftover(loadConfig().temporal.cliPath, [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--db-filename',
      dbFile,
      '--port',
      String(ports.port),
      '--http-port',
      String(ports.httpPort),
      '--metrics-port',
      String(ports.metricsPort),
    ]);
    await writePidFile(`${dbFile}.pid`, old);
    await until(
      () =>
        fetch(`http://127.0.0.1:${ports.httpPort}/api/v1/namespaces`).then(
          () => true,
          () => false,
        ),
      'the leftover to serve',
    );

    const server = await startDevServer({ dbFile, ...ports });
    try {
      expect(isRunning(old)).toBe(false);
      expect(JSON.parse(await readFile(`${dbFile}.pid`, 'utf8'))).not.toMatchObject({ pid: old });
    } finally {
      await server.stop();
    }
  }, 90_000);

  it('given a pid file naming a process that is not the dev server of that file, when the dev server starts, then that process is left alone', async () => {
    const dbFile = path.join(dir, 'other.db');
    const bystander = leftover('sleep', ['60']);
    await writePidFile(`${dbFile}.pid`, bystander);
    const server = await startDevServer({
      dbFile,
      port: await freePort(),
      httpPort: await freePort(),
      metricsPort: await freePort(),
    });
    await server.stop();
    expect(isRunning(bystander)).toBe(true);
  }, 90_000);

  it('given a PostgreSQL left running on the same cluster, when the embedded PostgreSQL starts, then the leftover is stopped and the new server takes its port', async () => {
    const dataDir = path.join(dir, 'postgres');
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port });
    await first.stop();
    const runAs = process.getuid?.() === 0 ? await postgresUser() : undefined;
    const old = leftover((await postgresBinaries(runAs)).postgres, ['-D', first.dataDir, '-p', String(port)], runAs);
    await until(
      async () =>
        (await readFile(path.join(first.dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).includes('ready'),
      'the leftover to be ready',
    );

    const server = await startEmbeddedPostgres({ dataDir, port });
    try {
      expect(isRunning(old)).toBe(false);
      await server.createDatabase('after_leftover');
    } finally {
      await server.remove();
    }
  }, 90_000);
});
