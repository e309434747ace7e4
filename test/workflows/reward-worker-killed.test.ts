import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { checkLedger } from '../../db/ledger';
import { freePort } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createReferralWorker } from '../../runtime/worker';
import { pointLotWorkflow } from '../../workflows/lot';
import { lotStateQuery } from '../../workflows/lot-messages';
import { pointLotWorkflowId, type LotCreditRequest } from '../../workflows/lot-shared';
import { createTestDatabase } from '../support/database';

/**
 * The referrer's reward is credited by the lot's workflow through a ledger activity. A worker that dies after the
 * ledger write committed and before it reported back leaves the activity to be retried by another worker: the credit
 * key books nothing twice. Real PostgreSQL, the dev server's real activity timeouts, a worker process killed with
 * SIGKILL.
 */
const DYING_WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/dying-ledger-worker.ts');

let devServer: DevServer;
let nativeConnection: NativeConnection;
let client: Client;
let db: DB;
let databaseUrl: string;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, url: databaseUrl, drop } = await createTestDatabase());
  devServer = await startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
  nativeConnection = await NativeConnection.connect({ address: devServer.address });
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
}, 120_000);

afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
  await devServer?.stop();
  await drop?.();
});

async function startDyingWorker(taskQueue: string, marker: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', DYING_WORKER, devServer.address, taskQueue, databaseUrl, marker],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dying worker exited early (${code})`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  return child;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

describe('a referral reward when the worker dies mid-credit', () => {
  it('given a worker killed after the ledger write and before the task completed, when another worker takes over, then the referrer is credited once', async () => {
    const marker = path.join(await mkdtemp(path.join(tmpdir(), 'referral-ledger-')), 'credits.jsonl');
    await writeFile(marker, '');
    const taskQueue = `referrals-ledger-${randomUUID()}`;
    const dying = await startDyingWorker(taskQueue, marker);

    const referralId = randomUUID();
    const now = Date.now();
    const request: LotCreditRequest = {
      customerId: 'anna',
      points: 500,
      creditedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 180 * 86_400_000).toISOString(),
      source: { kind: 'referral', referralId, programId: null, programVersion: null },
      qualifyingOrderIds: ['o-1'],
      creditKey: `referral:${referralId}`,
    };
    const handle = await client.workflow.start(pointLotWorkflow, {
      taskQueue,
      workflowId: pointLotWorkflowId(`referral-${referralId}`),
      args: [request],
    });
    try {
      const written = await until(
        async () => (await readFile(marker, 'utf8')).trim(),
        (text) => text !== '',
        20_000,
      );
      dying.kill('SIGKILL');
      const firstLot = JSON.parse(written) as { lotId: string; created: boolean };
      expect(firstLot.created).toBe(true);

      const survivor = await createReferralWorker({
        connection: nativeConnection,
        namespace: 'default',
        db,
        taskQueue,
      });
      const state = await survivor.runUntil(() =>
        until(
          () => handle.query(lotStateQuery),
          (s) => s.lot !== null,
          40_000,
        ),
      );
      // The retry found the lot the dead worker booked.
      expect(state.lot).toMatchObject({ lotId: firstLot.lotId, points: 500, created: false });
      const lots = await db.selectFrom('point_lots').selectAll().where('referral_id', '=', referralId).execute();
      expect(lots).toHaveLength(1);
      const credits = await db
        .selectFrom('ledger_entries')
        .select(['kind', 'points'])
        .where('customer_id', '=', 'anna')
        .execute();
      expect(credits).toEqual([{ kind: 'credit', points: 500 }]);
      const anna = await db
        .selectFrom('customers')
        .select('points_balance')
        .where('id', '=', 'anna')
        .executeTakeFirstOrThrow();
      expect(Number(anna.points_balance)).toBe(500);
      expect(await checkLedger(db)).toEqual([]);
    } finally {
      dying.kill('SIGKILL');
      await handle.terminate('test finished').catch(() => undefined);
    }
  }, 90_000);
});
