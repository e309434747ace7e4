import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createTestDatabase } from '../support/database';
import { spawnServiceProcess, type ServiceProcess } from '../support/service-process';
import { eventually } from '../support/stack';

/** A worker whose setting is at fault ends its start, with the reason, instead of trying again for ever. */
let dir: string;
let devServer: DevServer | undefined;
let database: Awaited<ReturnType<typeof createTestDatabase>>;
const processes: ServiceProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-worker-refusals-'));
  database = await createTestDatabase();
  devServer = await startDevServer({
    dbFile: path.join(dir, 'temporal.db'),
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
}, 120_000);
afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  await devServer?.stop();
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

async function exitOf(worker: ServiceProcess): Promise<string> {
  return eventually(
    async () => worker.exit(),
    (how) => how !== undefined,
    30_000,
  ).then((how) => how!);
}

describe('a worker started with a setting at fault', () => {
  it('given a workflow bundle file that is not a bundle, then the worker exits 1 within 30 s, saying why', async () => {
    const bundle = path.join(dir, 'garbage.js');
    await writeFile(bundle, 'this is not a workflow bundle\n');
    const worker = spawnServiceProcess('worker.ts', {
      databaseUrl: database.url,
      temporalAddress: devServer!.address,
      bundle,
    });
    processes.push(worker);
    expect(await exitOf(worker)).toBe('exit 1');
    expect(worker.output()).toContain('worker could not start');
    expect(worker.output()).not.toContain('creating the worker: failed, trying again');
  }, 60_000);

  it('given a namespace that does not exist, then the worker exits 1 within 30 s, saying why', async () => {
    const worker = spawnServiceProcess('worker.ts', {
      databaseUrl: database.url,
      temporalAddress: devServer!.address,
      namespace: 'no-such-namespace',
    });
    processes.push(worker);
    expect(await exitOf(worker)).toBe('exit 1');
    expect(worker.output()).toMatch(/worker could not start.*[Nn]amespace/);
  }, 60_000);
});
