import { describe, expect, it } from 'vitest';
import { extendUpdate, orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';

/** An admin's extension of the reward hold holds however the order book is judged again after a refund. */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('a reward hold an admin extended', () => {
  it('given a hold extended to day 20, when the qualifying order is refunded on day 12, then the referral is not paid', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const t0 = await referrals.env.currentTimeMs();
      await referrals.env.sleep('1 day');
      await handle.signal(orderSignal, { ...(await order('o-1', 'completed')), reportedAt: await referrals.nowIso() });
      await waitForStatus(handle, 'qualified');
      const until = new Date(t0 + 20 * 86_400_000).toISOString();
      await handle.executeUpdate(extendUpdate, { args: [{ requestId: 'extend-1', actor: 'ops', until }] });
      await referrals.env.sleep('11 days');
      await handle.signal(orderSignal, { ...(await order('o-1', 'refunded')), reportedAt: await referrals.nowIso() });
      const registered = await waitForStatus(handle, 'registered');
      expect(registered.completedAt).toBeNull();
      await referrals.env.sleep('20 days');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(fakes.creditCalls).toHaveLength(0);
    });
  });
});
