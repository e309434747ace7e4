import { WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate, stateQuery } from '../../workflows/messages';
import {
  projectionCaughtUp,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

/**
 * Commerce systems report facts seconds to minutes after they happen: each deadline waits the programme's
 * `lateEventGrace` (default 5 minutes) for facts dated up to it before it decides.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('late facts at a deadline', () => {
  it('given a registered referral, when an order dated exactly at the end of its window is reported 2 minutes later, then it qualifies', async () => {
    await scenario({}, async ({ handle }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const qualifyBy = registered.deadlines.qualifyBy!;
      await referrals.env.sleep('30 days');
      await referrals.env.sleep('2 minutes');
      const waiting = await handle.query(stateQuery);
      expect(waiting).toMatchObject({
        status: 'registered',
        graceEndsAt: new Date(Date.parse(qualifyBy) + 5 * 60_000).toISOString(),
      });

      await handle.signal(orderSignal, { ...(await order('o-1', 'completed')), occurredAt: qualifyBy });
      const qualified = await waitForStatus(handle, 'qualified');
      expect(qualified.qualifiedAt).toBe(qualifyBy);
    });
  });

  it('given a qualified referral, when a refund made inside the hold is reported a minute after the hold ends, then it is registered again', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('1 day');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      const qualified = await waitForStatus(handle, 'qualified');
      const holdUntil = qualified.deadlines.holdUntil!;
      await referrals.env.sleep('7 days');
      await referrals.env.sleep('1 minute');
      expect((await handle.query(stateQuery)).status).toBe('qualified');

      const refund = {
        ...(await order('o-1', 'refunded')),
        occurredAt: new Date(Date.parse(holdUntil) - 60 * 60_000).toISOString(),
      };
      await handle.signal(orderSignal, refund);
      const registered = await waitForStatus(handle, 'registered');
      expect(registered).toMatchObject({ qualifiedAt: null, progress: { countedOrders: 0 } });
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual(['claimed', 'registered', 'voucher_issued', 'qualified', 'qualification_lost']);
    });
  });

  it('given a qualified referral whose window and grace have closed, when an order dated inside the window is reported, then the timeline shows it as late and nothing else changes', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const qualifyBy = registered.deadlines.qualifyBy!;
      await referrals.env.sleep('29 days');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('1 day');
      await referrals.env.sleep('10 minutes');

      const late = {
        ...(await order('o-2', 'completed', 90_000)),
        occurredAt: new Date(Date.parse(qualifyBy) - 60 * 60_000).toISOString(),
      };
      await handle.signal(orderSignal, late);
      const state = await waitForState(handle, (s) => s.recentTimeline.at(-1)?.kind === 'late_fact');
      expect(state).toMatchObject({ status: 'qualified', progress: { countedOrders: 1, countedSpend: 60_000 } });
      expect(state.recentTimeline.at(-1)).toMatchObject({
        kind: 'late_fact',
        status: 'qualified',
        detail: { fact: 'order', orderId: 'o-2', orderStatus: 'completed', occurredAt: late.occurredAt },
      });
      for (let i = 0; i < 50 && !fakes.kinds().includes('late_fact'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(fakes.projections.at(-1)).toMatchObject({
        entry: { kind: 'late_fact' },
        referral: { status: 'qualified', progress: { countedOrders: 1 } },
      });

      await referrals.env.sleep('7 days');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'completed', progress: { countedOrders: 1, countedSpend: 60_000 } });
    });
  });

  it('given the default grace, when nothing qualifies, then the window is decided 5 minutes after it ends', async () => {
    await scenario({}, async ({ handle }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('31 days');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'expired', endReason: 'qualification_window_closed' });
      // a timer runs from when the server got it, a moment after the workflow computed it: allow for that
      expect(
        Math.abs(Date.parse(final.endedAt!) - (Date.parse(registered.deadlines.qualifyBy!) + 5 * 60_000)),
      ).toBeLessThan(5_000);
    });
  });

  it('given a programme with no grace (0), when the window closes, then it is decided at the deadline itself', async () => {
    await scenario({ terms: { lateEventGrace: '0' } }, async ({ handle }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('31 days');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'expired', endReason: 'qualification_window_closed' });
      expect(Math.abs(Date.parse(final.endedAt!) - Date.parse(registered.deadlines.qualifyBy!))).toBeLessThan(5_000);
    });
  });

  it('given a pending referral past its expiry, when signups arrive during the grace, then one made after the expiry is refused and one made before it registers', async () => {
    await scenario({}, async ({ handle, input }) => {
      const expiresAt = (await handle.query(stateQuery)).deadlines.expiresAt!;
      expect(expiresAt).toBe(new Date(Date.parse(input.createdAt) + 90 * 86_400_000).toISOString());
      await referrals.env.sleep('90 days');
      await referrals.env.sleep('2 minutes');
      const after = {
        ...(await signup('after-expiry')),
        occurredAt: new Date(Date.parse(expiresAt) + 1000).toISOString(),
      };
      const refused = await handle.executeUpdate(registerUpdate, { args: [after] }).catch((e: unknown) => e);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'referral_not_pending' });

      const before = {
        ...(await signup('before-expiry')),
        occurredAt: new Date(Date.parse(expiresAt) - 1000).toISOString(),
      };
      const registered = await handle.executeUpdate(registerUpdate, { args: [before] });
      expect(registered).toMatchObject({ status: 'registered', registeredAt: before.occurredAt });
    });
  });
});
