import { describe, expect, it } from 'vitest';
import { pointLotWorkflowId } from '../../workflows/lot-shared';
import { orderSignal, registerUpdate, stateQuery } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('referral rewards', () => {
  it('given a completed referral, when the referee completes a 2nd and 3rd order inside 90 days, then the milestone credits 200 points once and the referral ends', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      await waitForState(handle, (s) => s.status === 'completed' && s.milestone !== undefined);
      await handle.signal(orderSignal, await order('o-2', 'completed', 100));
      await waitForState(handle, (s) => s.milestone?.countedOrders === 2);
      expect((await handle.query(stateQuery)).milestone).toMatchObject({ orders: 3, outcome: null });
      const third = await order('o-3', 'completed', 100);
      await handle.signal(orderSignal, third);
      await handle.signal(orderSignal, third);
      const final = await handle.result();

      expect(final.status).toBe('completed');
      expect(final.milestone).toMatchObject({ outcome: 'reached', countedOrders: 3 });
      const milestone = fakes.creditCalls.filter((c) => c.source.kind === 'milestone');
      expect(milestone).toEqual([
        expect.objectContaining({
          customerId: 'anna',
          points: 200,
          creditKey: `milestone:${input.referralId}`,
          qualifyingOrderIds: ['o-1', 'o-2', 'o-3'],
        }),
      ]);
      expect(final.rewards?.milestone).toMatchObject({
        points: 200,
        lotWorkflowId: pointLotWorkflowId(`milestone-${input.referralId}`),
      });
      expect(fakes.kinds().at(-1)).toBe('milestone_reached');
      expect(fakes.statuses().at(-1)).toBe('completed');
    });
  });
});
