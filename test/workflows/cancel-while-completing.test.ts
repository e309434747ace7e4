import { WorkflowUpdateStage } from '@temporalio/client';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cancelUpdate, orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const SLOW_LOT_STARTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/slow-lot-starts.ts');
const referrals = useReferralTestEnvironment({ workflowInterceptorModules: [SLOW_LOT_STARTS] });
const { scenario, signup, order } = referrals;

// One scenario per file: a referral that credited lots leaves the time-skipping server's clock to the next file's server.
describe('a cancel that arrives while the referral completes', () => {
  it('given a hold decided and the referrer’s lot being started, when an admin cancels, then the completion stands, the cancel is answered with it, and the milestone is still counted', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      // The hold is decided after 7 days and its grace; the referrer's lot starts two days later (the interceptor).
      await referrals.env.sleep('8 days');
      const cancel = await handle.startUpdate(cancelUpdate, {
        args: [{ actor: 'ops', reason: 'too late' }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      });
      await referrals.env.sleep('2 days');
      expect((await cancel.result()).status).toBe('completed');

      await waitForState(handle, (s) => s.milestone !== undefined);
      await handle.signal(orderSignal, await order('o-2', 'completed', 100));
      await handle.signal(orderSignal, await order('o-3', 'completed', 100));
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.milestone).toMatchObject({ outcome: 'reached', countedOrders: 3 });
      expect(fakes.creditCalls.map((c) => c.source.kind)).toEqual(['referral', 'milestone']);
    });
  });
});
