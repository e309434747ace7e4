import { describe, expect, it } from 'vitest';
import { pointLotWorkflowId } from '../../workflows/lot-shared';
import { cancelUpdate, orderSignal, registerUpdate } from '../../workflows/messages';
import { lotExpiresAt } from '../../workflows/point-validity';
import {
  projectionCaughtUp,
  scheduledActivities,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const completedEntry = (kinds: { entry: { kind: string; detail?: Record<string, unknown> | undefined } }[]) =>
  kinds.find((p) => p.entry.kind === 'completed')?.entry;

describe('referral rewards', () => {
  it('given a registration, when the signup is accepted, then the referee gets a voucher of the default amount valid 30 days', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const state = await waitForState(handle, (s) => s.rewards?.voucher !== null && s.rewards?.voucher !== undefined);
      const voucher = fakes.vouchers.get(input.referralId);
      expect(voucher).toMatchObject({
        customerId: 'ben',
        amount: 5_000,
        currency: 'INR',
        issuedAt: registered.registeredAt,
        status: 'active',
      });
      expect(Date.parse(voucher!.expiresAt) - Date.parse(registered.registeredAt!)).toBe(30 * 24 * 3600_000);
      expect(state.rewards?.voucher).toEqual({
        code: voucher!.code,
        amount: 5_000,
        currency: 'INR',
        expiresAt: voucher!.expiresAt,
      });
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual(['claimed', 'registered', 'voucher_issued']);
      // issued in the registration's own write: the signup's answer carries it, after one activity
      expect(registered.rewards?.voucher).toEqual(state.rewards?.voucher);
      const scheduled = await scheduledActivities(handle);
      expect(scheduled).toEqual(['projectRegistration']);
      expect(fakes.projections.at(-1)?.entry).toEqual({ ...state.recentTimeline.at(-1) });
    });
  });

  it('given a programme voucher term, when the referee registers, then the voucher has its amount and validity', async () => {
    await scenario(
      { terms: { refereeVoucher: { amount: 7_500, validFor: '10 days' } } },
      async ({ handle, fakes, input }) => {
        const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await waitForState(handle, (s) => Boolean(s.rewards?.voucher));
        const voucher = fakes.vouchers.get(input.referralId)!;
        expect(voucher.amount).toBe(7_500);
        expect(Date.parse(voucher.expiresAt) - Date.parse(registered.registeredAt!)).toBe(10 * 24 * 3600_000);
      },
    );
  });

  it('given a registered referral with a voucher, when its window closes unqualified, then the voucher is voided', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('31 days');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(fakes.vouchers.get(input.referralId)?.status).toBe('void');
      expect(fakes.voucherCalls.map((c) => c.activity)).toEqual(['issue', 'void']);
      expect(completedEntry(fakes.projections)).toBeUndefined();
      expect(fakes.projections.at(-1)?.entry).toMatchObject({
        kind: 'qualification_window_closed',
        detail: { voucher: { status: 'void' } },
      });
      expect(fakes.creditCalls).toEqual([]);
      // one write ends it: the voucher's void, the end and the row's close in one activity after the window's timer
      const scheduled = await scheduledActivities(handle);
      expect(scheduled.at(-1)).toBe('projectReferralEnd');
      expect(scheduled).not.toContain('markReferralClosed');
      expect(scheduled).not.toContain('voidRefereeVoucher');
      expect(fakes.closed).toEqual([input.referralId]);
    });
  });

  it('given a registered referral with a voucher, when an admin cancels it, then the voucher is void when the cancel answers', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await waitForState(handle, (s) => Boolean(s.rewards?.voucher));
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'admin' }] });
      expect(cancelled.status).toBe('cancelled');
      expect(fakes.vouchers.get(input.referralId)?.status).toBe('void');
    });
  });

  it('given a pending referral, when it expires, then no voucher was issued and none is voided', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await referrals.env.sleep('91 days');
      expect((await handle.result()).status).toBe('expired');
      expect(fakes.voucherCalls).toEqual([]);
    });
  });

  it('given a qualified referral, when the hold passes, then the referrer is credited 2000 points once, as a lot valid 6 months', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const completedOrder = await order('o-1', 'completed');
      // the same event twice, and the order reported again in the same status
      await handle.signal(orderSignal, completedOrder);
      await handle.signal(orderSignal, completedOrder);
      await handle.signal(orderSignal, { ...completedOrder, eventId: 'again' });
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      const completed = await waitForStatus(handle, 'completed');
      await waitForState(handle, () => fakes.creditCalls.length > 0);

      expect(fakes.creditCalls).toEqual([
        {
          customerId: 'anna',
          points: 2_000,
          creditedAt: completed.completedAt,
          expiresAt: lotExpiresAt(completed.completedAt!, '6 months', 'UTC'),
          source: { kind: 'referral', referralId: input.referralId, programId: 'program-1', programVersion: 1 },
          qualifyingOrderIds: ['o-1'],
          creditKey: `referral:${input.referralId}`,
        },
      ]);
      const lotWorkflowId = pointLotWorkflowId(`referral-${input.referralId}`);
      expect(completed.rewards?.referrerPoints).toMatchObject({
        points: 2_000,
        lotWorkflowId,
        creditKey: `referral:${input.referralId}`,
      });
      await projectionCaughtUp(handle, fakes);
      expect(completedEntry(fakes.projections)?.detail).toMatchObject({ points: 2_000, lotWorkflowId });
      // the lot's workflow outlives the referral: it was started abandoned
      const lot = await referrals.env.client.workflow.getHandle(lotWorkflowId).describe();
      expect(lot.type).toBe('pointLotWorkflow');
    });
  });

  it('given programme terms for points, when the referral completes, then the lot has those points and that validity', async () => {
    await scenario(
      { terms: { referrerPoints: 750, pointValidity: '30 days', timeZone: 'Asia/Kolkata' } },
      async ({ handle, fakes }) => {
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await handle.signal(orderSignal, await order('o-1', 'completed'));
        await waitForStatus(handle, 'qualified');
        await referrals.env.sleep('8 days');
        const completed = await waitForStatus(handle, 'completed');
        await waitForState(handle, () => fakes.creditCalls.length > 0);
        expect(fakes.creditCalls[0]).toMatchObject({ points: 750 });
        expect(Date.parse(fakes.creditCalls[0]!.expiresAt) - Date.parse(completed.completedAt!)).toBe(
          30 * 24 * 3600_000,
        );
      },
    );
  });
});
