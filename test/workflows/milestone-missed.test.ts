import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('referral rewards', () => {
  it('given a completed referral, when 90 days pass since registration with one order, then the milestone is missed and the referral ends', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      await waitForState(handle, (s) => s.status === 'completed' && s.milestone !== undefined);
      await handle.signal(orderSignal, await order('o-2', 'completed', 100));
      await waitForState(handle, (s) => s.milestone?.countedOrders === 2);
      await referrals.env.sleep('83 days');
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.milestone).toMatchObject({ outcome: 'missed', countedOrders: 2 });
      expect(final.rewards?.milestone).toBeNull();
      expect(fakes.creditCalls.filter((c) => c.source.kind === 'milestone')).toEqual([]);
      expect(fakes.kinds().at(-1)).toBe('milestone_missed');
    });
  });
});
