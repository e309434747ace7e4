import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runtime/free-port';
import { httpClient } from '../support/http';

/**
 * What `npm start` runs (scripts/start.ts) on a fresh data folder: it starts its own Temporal dev server and
 * PostgreSQL, prints the addresses and the keys it made, stops cleanly on Ctrl-C, and a second start finds the
 * first one's referrals.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dataDir: string;
let env: NodeJS.ProcessEnv;

function start(): { child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> } {
  const { API_KEYS: _keys, DATABASE_URL: _db, TEMPORAL_ADDRESS: _temporal, ...rest } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env: { ...rest, ...env, LOG_LEVEL: 'warn' } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForOutput(output: () => string, text: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`never printed "${text}"; output:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'referrals-start-'));
  env = {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    TEMPORAL_HTTP_PORT: String(await freePort()),
    TEMPORAL_METRICS_PORT: String(await freePort()),
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
  };
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

describe('npm start', () => {
  it('given a fresh data folder, when started, stopped with Ctrl-C and started again, then the referral of the first run is still there', async () => {
    const first = start();
    await waitForOutput(first.output, 'Press Ctrl-C to stop.');
    const printed = first.output();
    expect(printed).toContain(`API:       http://localhost:${env.PORT}`);
    expect(printed).toContain(`/docs`);
    expect(printed).toContain(`Temporal:  http://localhost:${env.TEMPORAL_UI_PORT}`);
    const admin = /admin\s+key: (\S+)/.exec(printed)![1]!;
    const commerce = /commerce key: (\S+)/.exec(printed)![1]!;
    const api = httpClient((p, init) => fetch(`http://127.0.0.1:${env.PORT}${p}`, init));

    const program = await api.post('/v1/admin/programs', admin, { name: 'Start', currency: 'INR' });
    const code = (await api.post('/v1/customers/nina/referral-code', commerce, { programId: program.body.id })).body.code;
    const claim = await api.post('/v1/referrals', commerce, { code });
    expect(claim.status).toBe(201);

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    expect(first.output()).not.toMatch(/Error|error while stopping/);

    const second = start();
    await waitForOutput(second.output, 'Press Ctrl-C to stop.');
    // the same keys, kept in the data folder
    expect(second.output()).toContain(commerce);
    const again = await api.get(`/v1/referrals/${claim.body.id}`, commerce);
    expect(again.body).toMatchObject({ id: claim.body.id, status: 'pending' });
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 240_000);
});
