import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('the tier multiplier', () => {
  it('given a referrer with 5 completed referrals (PRO, ×1.25), when their 6th completes, then it credits 2,500 points once and shows the tier', async () => {
    await scenario({ fakes: { completedBefore: 5 } }, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      await waitForStatus(handle, 'completed');
      expect(fakes.creditCalls.filter((c) => c.source.kind === 'referral')).toEqual([
        expect.objectContaining({ points: 2_500 }),
      ]);
      const completed = fakes.projections.find((p) => p.entry.kind === 'completed');
      expect(completed?.entry.detail).toMatchObject({ points: 2_500, tier: 'PRO', multiplier: 1.25 });
    });
  });
});
