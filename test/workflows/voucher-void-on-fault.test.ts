import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('a referral stopped by a fault after its voucher was issued', () => {
  it('given a registered referral with a voucher, when a later write fails in a way no retry can fix, then the referral stops and the voucher is void', async () => {
    const dataError = ApplicationFailure.create({
      type: 'database_data_error',
      message: 'value out of range',
      nonRetryable: true,
    });
    await scenario(
      { fakes: { failProjection: (write) => (write.entry.kind === 'qualified' ? dataError : undefined) } },
      async ({ handle, fakes, input }) => {
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        // issued just after the registration is shown
        await waitForState(handle, (s) => s.rewards?.voucher != null);
        expect(fakes.vouchers.get(input.referralId)?.status).toBe('active');
        await handle.signal(orderSignal, await order('o-1', 'completed'));

        const failed = await handle.result().catch((e: unknown) => e);
        expect(failed).toBeInstanceOf(WorkflowFailedError);
        expect(fakes.faults).toEqual([expect.objectContaining({ activity: 'projectReferral', status: 'qualified' })]);
        expect(fakes.vouchers.get(input.referralId)?.status).toBe('void');
      },
    );
  });
});
