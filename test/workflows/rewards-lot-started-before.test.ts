import { describe, expect, it } from 'vitest';
import { pointLotWorkflow } from '../../workflows/lot';
import { pointLotWorkflowId } from '../../workflows/lot-shared';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { lotExpiresAt } from '../../workflows/point-validity';
import { useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('referral rewards', () => {
  it('given a lot already started for this referral (a completion delivered again), when the referral completes, then no second lot is credited', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      const lotWorkflowId = pointLotWorkflowId(`referral-${input.referralId}`);
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      // an earlier attempt of the completion started the lot's workflow before the referral recorded it
      const info = await handle.describe();
      const now = await referrals.nowIso();
      await referrals.env.client.workflow.start(pointLotWorkflow, {
        taskQueue: info.taskQueue,
        workflowId: lotWorkflowId,
        args: [
          {
            customerId: 'anna',
            points: 2_000,
            creditedAt: now,
            expiresAt: lotExpiresAt(now, '6 months', 'UTC'),
            source: { kind: 'referral', referralId: input.referralId },
            creditKey: `referral:${input.referralId}`,
          },
        ],
      });
      await referrals.env.sleep('8 days');
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.rewards?.referrerPoints).toMatchObject({ lotWorkflowId, points: 2_000 });
      expect(fakes.creditCalls).toHaveLength(1);
      expect(fakes.lots.size).toBe(1);
    });
  });
});
