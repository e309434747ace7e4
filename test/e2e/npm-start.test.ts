import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../runtime/free-port';
import { readLivePidFile } from '../../runtime/pid-file';
import { RELOCATED_CLUSTERS } from '../../runtime/postgres-data-folder';
import { leftoverPostmaster } from '../../runtime/postmaster';
import { isRunning, processCommandLine, stopProcess } from '../../runtime/process-table';
import { httpClient } from '../support/http';

/**
 * What `npm start` runs (scripts/start.ts): on a fresh data folder it starts its own Temporal dev server and
 * PostgreSQL, prints the addresses and the keys it made, stops in order on Ctrl-C, and a second start finds the
 * first one's referrals. It owns its servers: they die with it, and a port held by anything else is an error.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const folders: string[] = [];
const starts: Start[] = [];

/** Whatever a failed test left running: each start's process group, then any server still on a data folder. */
afterEach(async () => {
  for (const { child } of starts.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const folder of folders) {
    const kill = { signal: 'SIGKILL', forceSignal: 'SIGKILL', graceMs: 2_000 } as const;
    const temporal = await readLivePidFile(path.join(folder, 'temporal.db.pid'));
    if (temporal && processCommandLine(temporal.pid)?.includes(path.join(folder, 'temporal.db')))
      await stopProcess(temporal.pid, kill);
    const postgres = await leftoverPostmaster(path.join(folder, 'postgres')).catch(() => undefined);
    if (postgres) await stopProcess(postgres, kill);
  }
});

/** The data folders, and the clusters they had elsewhere (as root, under RELOCATED_CLUSTERS), set aside ones too. */
afterAll(async () => {
  for (const folder of folders) {
    const link = path.join(folder, 'postgres');
    const cluster = await lstat(link).then(
      (info) => (info.isSymbolicLink() ? readlink(link) : undefined),
      () => undefined,
    );
    if (cluster?.startsWith(`${RELOCATED_CLUSTERS}/`)) {
      const home = path.dirname(cluster);
      for (const entry of await readdir(RELOCATED_CLUSTERS)) {
        if (entry === path.basename(home) || entry.startsWith(`${path.basename(home)}.orphaned-`)) {
          await rm(path.join(RELOCATED_CLUSTERS, entry), { recursive: true, force: true });
        }
      }
    }
    await rm(folder, { recursive: true, force: true });
  }
});

async function freshSetup(): Promise<NodeJS.ProcessEnv> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'referrals-start-'));
  folders.push(dataDir);
  return {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_HTTP_PORT: String(await freePort()),
    TEMPORAL_METRICS_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
  };
}

interface Start {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
  /** Ctrl-C in a terminal: SIGINT to the whole foreground process group, not just to node */
  pressCtrlC: () => void;
}

function start(env: NodeJS.ProcessEnv): Start {
  const { API_KEYS: _keys, DATABASE_URL: _db, TEMPORAL_ADDRESS: _temporal, ...rest } = process.env;
  // Its own process group, as a terminal gives it, so the test can signal the group the way Ctrl-C does.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: { ...rest, ...env, LOG_LEVEL: 'info' },
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = { child, output: () => output, exited, pressCtrlC: () => process.kill(-child.pid!, 'SIGINT') };
  starts.push(started);
  return started;
}

async function waitForOutput(output: () => string, text: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`never printed "${text}"; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface LogLine {
  level: number;
  time: number;
  msg: string;
  state?: string;
  component?: string;
}

const logLines = (output: string): LogLine[] =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

/** A listener on the port, standing for whatever else a developer may have running there. */
async function holdPort(port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('npm start', () => {
  it('given a fresh data folder, when started, stopped with Ctrl-C and started again, then it stops the API, the worker, Temporal and PostgreSQL in that order without a database error, and the referral of the first run is still there', async () => {
    const env = await freshSetup();
    const first = start(env);
    await waitForOutput(first.output, 'Press Ctrl-C to stop.');
    const printed = first.output();
    expect(printed).toContain(`API:       http://localhost:${env.PORT}`);
    expect(printed).toContain(`/docs`);
    expect(printed).toContain(`Temporal:  http://localhost:${env.TEMPORAL_UI_PORT}`);
    const admin = /admin\s+key: (\S+)/.exec(printed)![1]!;
    const commerce = /commerce key: (\S+)/.exec(printed)![1]!;
    const api = httpClient((p, init) => fetch(`http://127.0.0.1:${env.PORT}${p}`, init));

    const program = await api.post('/v1/admin/programs', admin, { name: 'Start', currency: 'INR' });
    const code = (await api.post('/v1/customers/nina/referral-code', commerce, { programId: program.body.id })).body
      .code;
    const claim = await api.post('/v1/referrals', commerce, { code });
    expect(claim.status).toBe(201);

    first.pressCtrlC();
    expect(await first.exited).toBe(0);
    const lines = logLines(first.output());
    const shutdown = lines.slice(lines.findIndex((line) => line.msg === 'shutting down'));
    const at = (found: (line: LogLine) => boolean) => shutdown.findIndex(found);
    const order = [
      at((line) => line.msg === 'API stopped'),
      at((line) => line.msg === 'Worker state changed' && line.state === 'STOPPED'),
      at((line) => line.msg === 'Temporal dev server stopped'),
      at((line) => line.msg === 'embedded PostgreSQL stopped'),
    ];
    expect(order.every((index) => index > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(shutdown.filter((line) => line.level >= 40)).toEqual([]);
    // PostgreSQL's own warnings and errors are logged at warn: none, from start to stop
    expect(lines.filter((line) => line.component === 'postgres' && line.level >= 40)).toEqual([]);
    expect(first.output()).not.toMatch(/error while stopping|terminating connection|ECONNREFUSED/);

    const second = start(env);
    await waitForOutput(second.output, 'Press Ctrl-C to stop.');
    // the same keys, kept in the data folder
    expect(second.output()).toContain(commerce);
    const again = await api.get(`/v1/referrals/${claim.body.id}`, commerce);
    expect(again.body).toMatchObject({ id: claim.body.id, status: 'pending' });

    // One start per data folder: a second one, even on other ports, would stop the first one's servers.
    const intruder = start({ ...(await freshSetup()), DATA_DIR: env.DATA_DIR });
    expect(await intruder.exited).toBe(1);
    expect(intruder.output()).toContain(`${env.DATA_DIR} is in use by another npm start (pid ${second.child.pid})`);
    // on the same ports too: the folder is what it is told, not a port
    const twin = start(env);
    expect(await twin.exited).toBe(1);
    expect(twin.output()).toContain(`${env.DATA_DIR} is in use by another npm start (pid ${second.child.pid})`);
    expect(twin.output()).not.toContain('is in use by another process');

    second.pressCtrlC();
    expect(await second.exited).toBe(0);
  }, 240_000);

  it('given a start killed with SIGKILL, then its servers are gone within seconds, and the next start on the same data folder runs', async () => {
    const env = await freshSetup();
    const killed = start(env);
    await waitForOutput(killed.output, 'Press Ctrl-C to stop.');
    const temporal = (
      JSON.parse(await readFile(path.join(env.DATA_DIR!, 'temporal.db.pid'), 'utf8')) as { pid: number }
    ).pid;
    const postgres = Number(
      (await readFile(path.join(env.DATA_DIR!, 'postgres/postmaster.pid'), 'utf8')).split('\n')[0],
    );
    expect([isRunning(temporal), isRunning(postgres)]).toEqual([true, true]);

    killed.child.kill('SIGKILL');
    await killed.exited;
    const deadline = Date.now() + 15_000;
    while ((isRunning(temporal) || isRunning(postgres)) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect([isRunning(temporal), isRunning(postgres)]).toEqual([false, false]);

    const next = start(env);
    await waitForOutput(next.output, 'Press Ctrl-C to stop.');
    next.pressCtrlC();
    expect(await next.exited).toBe(0);
  }, 240_000);

  it('given Ctrl-C while it is still starting, then it stops starting and stops what it had started, in order, and the next start runs', async () => {
    const env = await freshSetup();
    const interrupted = start(env);
    await waitForOutput(interrupted.output, 'embedded PostgreSQL running');
    // the Temporal dev server is being started now
    interrupted.pressCtrlC();
    expect(await interrupted.exited).toBe(0);
    const lines = logLines(interrupted.output());
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    expect(interrupted.output()).not.toContain('Press Ctrl-C to stop.');
    const shutdown = lines.slice(lines.findIndex((line) => line.msg === 'shutting down'));
    const at = (msg: string) => shutdown.findIndex((line) => line.msg === msg);
    const order = [
      at('Temporal dev server stopped'),
      at('embedded PostgreSQL stopped'),
      at('data folder released'),
      // the lifecycle's own closing line is the last one; a server's output may say "stopped" too
      shutdown.findLastIndex((line) => line.msg === 'stopped'),
    ];
    expect(order.every((index) => index > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    const next = start(env);
    await waitForOutput(next.output, 'Press Ctrl-C to stop.');
    next.pressCtrlC();
    expect(await next.exited).toBe(0);
  }, 240_000);

  it('given SIGTERM to the process alone (as a service manager sends it) while the workflow bundle builds, then the build ends there: no worker or API is started only to be stopped', async () => {
    const env = await freshSetup();
    const interrupted = start(env);
    await waitForOutput(interrupted.output, 'building the workflow bundle');
    interrupted.child.kill('SIGTERM');
    expect(await interrupted.exited).toBe(0);
    const lines = logLines(interrupted.output());
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    const stopped = lines.map((line) => line.msg);
    expect(stopped).toContain('embedded PostgreSQL stopped');
    // without the stop reaching the build, the start went on to the worker and the API and stopped both afterwards
    expect(stopped).not.toContain('worker stopped');
    expect(stopped).not.toContain('API stopped');
  }, 240_000);

  it('given a port held by another process, when started on another data folder, then it exits non-zero naming the port and the variable that moves it', async () => {
    for (const setting of ['TEMPORAL_PORT', 'EMBEDDED_POSTGRES_PORT']) {
      const env = await freshSetup();
      const holder = await holdPort(Number(env[setting]));
      try {
        const refused = start(env);
        expect(await refused.exited).toBe(1);
        expect(refused.output()).toContain(`port ${env[setting]} is in use by another process`);
        expect(refused.output()).toContain(`set ${setting} to a free port`);
      } finally {
        holder.close();
      }
    }
  }, 120_000);
});
