import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const daysAfter = (iso: string, days: number) => new Date(Date.parse(iso) + days * 86_400_000).toISOString();

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('the milestone and orders reported late for the qualification window', () => {
  it('given a completed referral, when an order completed on day 20 is reported on day 31, then it is a late fact for the window and still counts for the milestone', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      await waitForState(handle, (s) => s.status === 'completed' && s.milestone !== undefined);
      await referrals.env.sleep('23 days');

      const reportedLate = {
        ...(await order('o-2', 'completed', 100)),
        occurredAt: daysAfter(registered.registeredAt!, 20),
      };
      await handle.signal(orderSignal, reportedLate);
      await waitForState(handle, (s) => s.milestone?.countedOrders === 2);
      await handle.signal(orderSignal, await order('o-3', 'completed', 100));
      const final = await handle.result();

      expect(final.milestone).toMatchObject({ outcome: 'reached', countedOrders: 3 });
      expect(fakes.creditCalls.filter((c) => c.source.kind === 'milestone')).toEqual([
        expect.objectContaining({ qualifyingOrderIds: ['o-1', 'o-2', 'o-3'] }),
      ]);
      const late = fakes.projections.filter((p) => p.entry.kind === 'late_fact').map((p) => p.entry.detail?.orderId);
      expect(late).toEqual(['o-2']);
    });
  });
});
