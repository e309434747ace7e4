import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

// The dev server: the time-skipping test server does not continue a workflow as new atomically, and the orders
// signalled across the hand-over here could be lost there (or leave a query waiting on the new run).
const referrals = useReferralTestEnvironment({ server: 'dev' });
const { scenario, signup, order } = referrals;

describe('referral rewards', () => {
  it('given a referral that continued as new while qualifying, when it completes, then the referrer is credited once', async () => {
    await scenario(
      {
        historyEventLimit: 60,
        terms: {
          minOrders: 1,
          minSpend: 400_000,
          rewardHold: '2 seconds',
          lateEventGrace: '1 second',
          milestone: { orders: 100 },
        },
      },
      async ({ handle, fakes }) => {
        const firstRunId = (await handle.describe()).runId;
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        for (let i = 0; i < 40; i++) await handle.signal(orderSignal, await order(`o-${i}`, 'completed', 10_000));
        await waitForStatus(handle, 'qualified');
        expect((await referrals.env.client.workflow.getHandle(handle.workflowId).describe()).runId).not.toBe(
          firstRunId,
        );
        const completed = await waitForStatus(handle, 'completed');
        await waitForState(handle, () => fakes.creditCalls.length > 0);
        const referrerLots = fakes.creditCalls.filter((c) => c.source.kind === 'referral');
        expect(referrerLots).toHaveLength(1);
        expect(referrerLots[0]!.qualifyingOrderIds).toHaveLength(40);
        // the voucher was issued once, before the hand-over, and the next run kept it
        expect(fakes.voucherCalls.filter((c) => c.activity === 'issue')).toHaveLength(1);
        expect(completed.rewards?.voucher).not.toBeNull();
      },
    );
  });
});
