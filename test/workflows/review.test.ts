import { WorkflowUpdateFailedError, WorkflowUpdateStage } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import {
  approveUpdate,
  extendUpdate,
  orderSignal,
  registerUpdate,
  rejectUpdate,
  stateQuery,
} from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const flagged = async () => ({ ...(await signup()), flags: ['SAME_IP', 'DEVICE_REUSE'] });
const refusedType = (error: unknown) => ((error as WorkflowUpdateFailedError).cause as { type?: string }).type;

describe('fraud review and admin actions', () => {
  it('given a signup with two flags, when no admin decides within 14 days, then the referral is rejected and pays nothing', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await flagged()] });
      expect(registered.status).toBe('under_review');
      expect(registered.flags).toEqual(['DEVICE_REUSE', 'SAME_IP']);
      expect(registered.review?.decideBy).toBeDefined();
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await referrals.env.sleep('13 days');
      expect((await handle.query(stateQuery)).status).toBe('under_review');
      await referrals.env.sleep('2 days');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'rejected', endReason: 'review_expired', review: null });
      expect(fakes.vouchers.get(input.referralId)).toBeUndefined();
      expect(fakes.creditCalls).toEqual([]);
      expect(fakes.statuses()).toEqual(['pending', 'under_review', 'rejected']);
    });
  });

  it('given a referral under review, when an admin approves it on day 3, then it goes on as registered with its voucher and the orders made meanwhile count', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await flagged()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await referrals.env.sleep('3 days');
      const request = { requestId: 'approve-1', actor: 'ops', reason: 'known customer' };
      const approved = await handle.executeUpdate(approveUpdate, { args: [request] });
      expect(approved.status).toBe('registered');
      expect(approved.review).toBeNull();
      expect(fakes.vouchers.get(input.referralId)?.status).toBe('active');
      await waitForStatus(handle, 'qualified');

      // The same request again is answered, not applied again; approving a referral not under review is refused.
      expect((await handle.executeUpdate(approveUpdate, { args: [request] })).status).toBe('qualified');
      const again = await handle
        .executeUpdate(approveUpdate, { args: [{ requestId: 'approve-2', actor: 'ops' }] })
        .catch((e: unknown) => e);
      expect(refusedType(again)).toBe('invalid_transition');
      expect(fakes.adminActions).toEqual([
        expect.objectContaining({
          action: 'approve',
          requestId: 'approve-1',
          actor: 'ops',
          reason: 'known customer',
          before: expect.objectContaining({ status: 'under_review' }),
          after: expect.objectContaining({ status: 'registered', review: null }),
        }),
      ]);
      expect(fakes.kinds()).toContain('review_approved');
    });
  });

  it('given a registered referral, when an admin extends its window by 10 days, then an order after the old end qualifies it', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('20 days');
      const extended = await handle.executeUpdate(extendUpdate, {
        args: [{ requestId: 'extend-1', actor: 'ops', by: '10 days', reason: 'support case' }],
      });
      const oldEnd = Date.parse(registered.deadlines.qualifyBy!);
      expect(Date.parse(extended.deadlines.qualifyBy!)).toBe(oldEnd + 10 * 86_400_000);
      // never earlier
      const shorter = await handle
        .executeUpdate(extendUpdate, {
          args: [{ requestId: 'extend-2', actor: 'ops', until: registered.deadlines.qualifyBy! }],
        })
        .catch((e: unknown) => e);
      expect(refusedType(shorter)).toBe('invalid_transition');

      await referrals.env.sleep('15 days');
      expect((await handle.query(stateQuery)).status).toBe('registered');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      expect(fakes.adminActions.map((a) => a.action)).toEqual(['extend']);
      expect(fakes.kinds()).toContain('deadline_extended');
    });
  });

  it('given a registered referral with its voucher, when an admin rejects it, then it ends rejected and the voucher is void', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const rejected = await handle.executeUpdate(rejectUpdate, {
        args: [{ requestId: 'reject-1', actor: 'ops', reason: 'duplicate account' }],
      });
      expect(rejected.status).toBe('rejected');
      await waitForState(handle, (s) => s.status === 'rejected');
      expect(fakes.vouchers.get(input.referralId)?.status).toBe('void');
      expect(fakes.adminActions).toEqual([
        expect.objectContaining({
          action: 'reject',
          reason: 'duplicate account',
          after: expect.objectContaining({ status: 'rejected' }),
        }),
      ]);
    });
  });
});

describe('admin actions at the end of a referral', () => {
  it('given a referral ending (its window closing while the inbox is read for orders reported in time), when an admin extends it in that moment, then the extension is refused and the workflow closes', async () => {
    let releaseRead: () => void = () => {};
    const readHeld = new Promise<void>((resolve) => (releaseRead = resolve));
    let reading = false;
    await scenario(
      {
        // A window of seconds run in real time: a held activity would stop the server's time skipping.
        terms: { qualificationWindow: '3 seconds', lateEventGrace: '0s' },
        fakes: {
          // The read outlives its workflow task's heartbeat: the extension is accepted in the task between.
          reportedOrders: async () => {
            reading = true;
            await readHeld;
            return [];
          },
        },
      },
      async ({ handle, fakes }) => {
        try {
          await handle.executeUpdate(registerUpdate, { args: [await signup()] });
          await waitForState(handle, (s) => s.rewards?.voucher != null);
          const deadline = Date.now() + 20_000;
          while (!reading && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
          expect(reading).toBe(true);
          const extend = await handle.startUpdate(extendUpdate, {
            args: [{ requestId: 'late-extend', actor: 'ops', by: '1 day' }],
            waitForStage: WorkflowUpdateStage.ACCEPTED,
          });
          releaseRead();
          const answer = await extend.result().catch((e: unknown) => e);
          expect(refusedType(answer)).toBe('invalid_transition');
          const final = await handle.result();
          expect(final.status).toBe('expired');
          expect(fakes.closed).toHaveLength(1);
          expect(fakes.adminActions).toEqual([]);
          // accepted while the referral was still open, refused by the loop as it ended
          const accepted = (await handle.fetchHistory()).events!.filter(
            (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'extend',
          );
          expect(accepted).toHaveLength(1);
        } finally {
          // a held activity would keep the worker from shutting down
          releaseRead();
        }
      },
    );
  });
});
