import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerActivities } from '../../activities/ledger';
import type { DB } from '../../db/connection';
import { checkLedger, findCustomerPoints, findLedgerEntries, redeemPoints } from '../../db/ledger';
import { pointLotWorkflow } from '../../workflows/lot';
import { creditLotUpdate, lotStateQuery } from '../../workflows/lot-messages';
import { pointLotWorkflowId, type LotCreditRequest } from '../../workflows/lot-shared';
import { lotExpiresAt } from '../../workflows/point-validity';
import { createTestDatabase } from '../support/database';
import { startTimeSkippingServer } from '../support/referral-scenario';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

/** A lot's life on the time-skipping server with the real ledger activities on real PostgreSQL: months in seconds. */
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let db: DB;
let drop: () => Promise<void>;

beforeAll(async () => {
  env = await startTimeSkippingServer();
  bundle = await bundleWorkflowCode({
    ...WORKFLOW_BUNDLE_OPTIONS,
    logger: { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
  ({ db, drop } = await createTestDatabase());
}, 120_000);

afterAll(async () => {
  await env?.teardown();
  if (!db) return;
  expect(await checkLedger(db)).toEqual([]);
  await drop();
});

async function withWorker(body: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = `lots-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createLedgerActivities({ db }),
  });
  await worker.runUntil(body(taskQueue));
}

const request = async (customerId: string, points: number, validity = '6 months'): Promise<LotCreditRequest> => {
  const creditedAt = new Date(await env.currentTimeMs()).toISOString();
  return {
    customerId,
    points,
    creditedAt,
    expiresAt: lotExpiresAt(creditedAt, validity, 'UTC'),
    source: { kind: 'adjustment' },
    actor: 'ops',
    reason: 'test',
    creditKey: `adjustment:${customerId}:${randomUUID()}`,
  };
};

describe('a lot of points', () => {
  it('given a credited lot, when part is redeemed and 6 months and a day pass, then the rest expires with a ledger entry', async () => {
    await withWorker(async (taskQueue) => {
      const credit = await request('lena', 2000);
      const handle = await env.client.workflow.start(pointLotWorkflow, {
        taskQueue,
        workflowId: pointLotWorkflowId(randomUUID()),
        args: [credit],
      });
      const lot = await handle.executeUpdate(creditLotUpdate);
      expect(lot).toMatchObject({ customerId: 'lena', points: 2000, expiresAt: credit.expiresAt, created: true });

      const redeemed = await redeemPoints(db, {
        customerId: 'lena',
        redemptionId: 'checkout-1',
        points: 500,
        now: new Date(await env.currentTimeMs()),
      });
      expect(redeemed).toMatchObject({ outcome: 'redeemed', balance: 1500 });

      await env.sleep('150 days');
      expect(await handle.query(lotStateQuery)).toMatchObject({ expiredPoints: null });
      await env.sleep('36 days');
      const final = await handle.result();
      expect(final.expiredPoints).toBe(1500);

      expect((await findLedgerEntries(db, 'lena')).map((e) => [e.kind, e.points])).toEqual([
        ['adjust', 2000],
        ['redeem', -500],
        ['expire', -1500],
      ]);
      expect(await findCustomerPoints(db, 'lena')).toMatchObject({
        balance: 0,
        lots: [{ remaining: 0, expired_at: expect.any(Date) }],
      });
    });
  });

  it('given a credit asked for twice, and a second workflow for the same credit key, then one lot is booked', async () => {
    await withWorker(async (taskQueue) => {
      const credit = await request('mona', 300, '30s');
      const first = await env.client.workflow.start(pointLotWorkflow, {
        taskQueue,
        workflowId: pointLotWorkflowId(randomUUID()),
        args: [credit],
      });
      const [a, b] = await Promise.all([first.executeUpdate(creditLotUpdate), first.executeUpdate(creditLotUpdate)]);
      expect(b.lotId).toBe(a.lotId);
      const second = await env.client.workflow.start(pointLotWorkflow, {
        taskQueue,
        workflowId: pointLotWorkflowId(randomUUID()),
        args: [credit],
      });
      expect(await second.executeUpdate(creditLotUpdate)).toMatchObject({ lotId: a.lotId, created: false });
      await env.sleep('31s');
      // both timers fire at the same instant; whichever runs first expires the lot, the other finds nothing left
      const expired = [(await first.result()).expiredPoints, (await second.result()).expiredPoints];
      expect(expired.sort((x, y) => x! - y!)).toEqual([0, 300]);
      expect((await findLedgerEntries(db, 'mona')).map((e) => [e.kind, e.points])).toEqual([
        ['adjust', 300],
        ['expire', -300],
      ]);
    });
  });
});
