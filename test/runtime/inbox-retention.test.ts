import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { countReferralEarly } from '../../db/customer-contexts';
import { acceptEvent, markEvent } from '../../db/inbox';
import { freePort } from '../../runtime/free-port';
import { ensureInboxRetentionSchedule, INBOX_RETENTION_SCHEDULE_ID } from '../../runtime/inbox-retention';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { createReferralWorker } from '../../runtime/worker';
import { createTestDatabase } from '../support/database';

/** The inbox's retention: a Temporal Schedule on the dev server, its workflow and activity on real PostgreSQL. */
let devServer: DevServer;
let client: Client;
let nativeConnection: NativeConnection;
let db: DB;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  devServer = await startDevServer({
    port: await freePort(),
    httpPort: await freePort(),
    metricsPort: await freePort(),
  });
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
  nativeConnection = await NativeConnection.connect({ address: devServer.address });
}, 120_000);

afterAll(async () => {
  await client?.connection.close();
  await nativeConnection?.close();
  await devServer?.stop();
  await drop?.();
});

const DAY = 86_400_000;

async function orderEvent(customerId: string, receivedDaysAgo: number, state?: 'awaiting_signup' | 'delivered') {
  const eventId = randomUUID();
  const payload = { eventId, customerId, orderId: eventId, status: 'completed', amount: 100, currency: 'INR' };
  await acceptEvent(db, { kind: 'order', eventId, customerId, orderId: eventId, payload });
  if (state) await markEvent(db, 'order', eventId, { state });
  await db
    .updateTable('inbox_events')
    .set({ received_at: new Date(Date.now() - receivedDaysAgo * DAY) })
    .where('event_id', '=', eventId)
    .execute();
  return eventId;
}

const remaining = async () =>
  (await db.selectFrom('inbox_events').select('event_id').execute()).map((row) => row.event_id).sort();

/** A referral counted early toward its referrer's pace `daysAgo` days ago, never written by its workflow. */
async function countedEarly(daysAgo: number): Promise<string> {
  const referralId = randomUUID();
  const at = new Date(Date.now() - daysAgo * DAY);
  await db.transaction().execute((trx) => countReferralEarly(trx, { referralId, referrerId: 'anna', createdAt: at }));
  await db
    .updateTable('referrals_counted_early')
    .set({ counted_at: at })
    .where('referral_id', '=', referralId)
    .execute();
  return referralId;
}

const earlyCounts = async () =>
  (await db.selectFrom('referrals_counted_early').select('referral_id').execute()).map((row) => row.referral_id);

describe('inbox retention', () => {
  it('given the schedule set up twice with other settings, then one schedule runs the latest settings', async () => {
    const taskQueue = `retention-${randomUUID()}`;
    await ensureInboxRetentionSchedule(client, { retention: '90 days', taskQueue });
    await ensureInboxRetentionSchedule(client, { retention: '30 days', taskQueue, every: '12 hours' });
    const described = await client.schedule.getHandle(INBOX_RETENTION_SCHEDULE_ID).describe();
    expect(described.action).toMatchObject({
      workflowType: 'inboxRetentionWorkflow',
      args: [{ retention: '30 days' }],
    });
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 12 * 3_600_000 })]);
    await expect(ensureInboxRetentionSchedule(client, { retention: 'for ever' })).rejects.toThrow(/not a retention/);
  });

  it('given orders of unreferred customers old and new and referrals counted early, when the schedule runs, then only the orders past the retention and the early counts a week old are deleted', async () => {
    const taskQueue = `retention-${randomUUID()}`;
    const leaked = await countedEarly(8);
    const underWay = await countedEarly(2);
    const old = await orderEvent('nobody-1', 100, 'awaiting_signup');
    const older = await orderEvent('nobody-2', 400, 'awaiting_signup');
    const recent = await orderEvent('nobody-1', 10, 'awaiting_signup');
    const delivered = await orderEvent('somebody', 400, 'delivered');
    const notYetDelivered = await orderEvent('somebody', 400);
    await ensureInboxRetentionSchedule(client, { retention: '90 days', taskQueue });
    const worker: Worker = await createReferralWorker({
      connection: nativeConnection,
      namespace: 'default',
      db,
      taskQueue,
    });
    await worker.runUntil(async () => {
      await client.schedule.getHandle(INBOX_RETENTION_SCHEDULE_ID).trigger();
      const deadline = Date.now() + 30_000;
      // the early counts go after the orders, in the same pass
      while ((await earlyCounts()).includes(leaked) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    });
    const left = await remaining();
    expect(left).not.toContain(old);
    expect(left).not.toContain(older);
    expect(left).toEqual(expect.arrayContaining([recent, delivered, notYetDelivered]));
    expect(await earlyCounts()).toEqual([underWay]);
  });
});
