import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';
import { freePort } from '../../runtime/free-port';
import { eventually } from '../support/stack';
import { TASK_QUEUE } from '../../workflows/shared';

/**
 * The production shape on one machine: the worker and the API as their own processes (`worker.ts`,
 * `api/server.ts`), and everything stopped and started again while a referral's timer is running.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let dir: string;
let ports: { temporal: number; http: number; metrics: number; api: number };
let devServer: DevServer;
let processes: ChildProcess[] = [];

const startDev = async () =>
  startDevServer({
    dbFile: path.join(dir, 'temporal.db'),
    port: ports.temporal,
    httpPort: ports.http,
    metricsPort: ports.metrics,
  });

function startProcess(entry: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      TEMPORAL_ADDRESS: devServer.address,
      API_KEYS: API_KEYS.map((k) => `${k.name}:${k.role}:${k.secret}`).join(','),
      PORT: String(ports.api),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  processes.push(child);
  return child;
}

async function stopAll(): Promise<void> {
  await Promise.all(
    processes.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  processes = [];
  await devServer.stop();
}

const api = httpClient((p, init) => fetch(`http://127.0.0.1:${ports.api}${p}`, init));
/** The API answers ready and the worker polls (it bundles the workflows first, which takes a while on a busy machine). */
async function ready(): Promise<void> {
  await eventually(
    () => api.get('/readyz').catch(() => ({ status: 0, body: null })),
    (r) => r.status === 200,
    60_000,
  );
  const connection = await Connection.connect({ address: devServer.address });
  try {
    await eventually(
      async () =>
        (
          await connection.workflowService.describeTaskQueue({
            namespace: 'default',
            taskQueue: { name: TASK_QUEUE },
            taskQueueType: 1,
          })
        ).pollers?.length ?? 0,
      (pollers) => pollers > 0,
      60_000,
    );
  } finally {
    await connection.close();
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-processes-'));
  ports = { temporal: await freePort(), http: await freePort(), metrics: await freePort(), api: await freePort() };
  devServer = await startDev();
  startProcess('worker.ts');
  startProcess('api/server.ts');
  await ready();
}, 120_000);

afterAll(async () => {
  await stopAll().catch(() => undefined);
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('worker and API as separate processes', () => {
  it('given a pending referral, when every process is stopped and started again, then its timer still fires and it expires', async () => {
    const readiness = await api.get('/readyz');
    expect(readiness.body).toEqual({ status: 'ready', database: 'ok', temporal: 'ok' });

    const program = await api.post('/v1/admin/programs', KEYS.admin, {
      name: 'Restart',
      currency: 'EUR',
      terms: { referralExpiry: '20s', lateEventGrace: '0s' },
    });
    const code = (await api.post('/v1/customers/olga/referral-code', KEYS.commerce, { programId: program.body.id }))
      .body.code;
    const claim = await api.post('/v1/referrals', KEYS.commerce, { code });
    expect(claim.body.status).toBe('pending');

    await stopAll();
    devServer = await startDev();
    startProcess('worker.ts');
    startProcess('api/server.ts');
    await ready();

    expect((await api.get(`/v1/referrals/${claim.body.id}`, KEYS.commerce)).body.status).toBe('pending');
    const expired = await eventually(
      () => api.get(`/v1/referrals/${claim.body.id}`, KEYS.commerce),
      (r) => r.body.status === 'expired',
      30_000,
    );
    expect(expired.body.endReason).toBe('referral_expired');
  }, 120_000);
});
