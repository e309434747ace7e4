import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import { projectionCaughtUp, useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';

/**
 * Order events reach a referral in any order and any time after the intake accepted them (a restart or an outage of
 * ours delays the delivery): lateness is judged by when an event was reported, a deadline is decided with what was
 * reported in time, and each order's history is followed in business time.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const DAY = 24 * 60 * 60_000;
const at = (ms: number) => new Date(ms).toISOString();

describe('orders judged by when they were reported', () => {
  it('given a completion delivered after its own refund, when the refund is dated after the hold, then the referral completes', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const t0 = await referrals.env.currentTimeMs();
      const completion: OrderFacts = { ...(await order('o-1', 'completed')), reportedAt: at(t0 + 60_000) };
      await referrals.env.sleep('8 days');
      await handle.signal(orderSignal, { ...(await order('o-1', 'refunded')), reportedAt: at(t0 + 8 * DAY) });
      // reported a minute after it happened; its delivery was cut off and the relay brings it now
      await handle.signal(orderSignal, completion);
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.qualifiedAt).toBe(completion.occurredAt);
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toContain('qualified');
    });
  });

  it('given a completion delivered after its own refund, when the refund is dated inside the hold, then the referral does not qualify', async () => {
    await scenario({ terms: { qualificationWindow: '10 days' } }, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const t0 = await referrals.env.currentTimeMs();
      const completion: OrderFacts = { ...(await order('o-1', 'completed')), reportedAt: at(t0 + 60_000) };
      await referrals.env.sleep('2 days');
      await handle.signal(orderSignal, { ...(await order('o-1', 'refunded')), reportedAt: at(t0 + 2 * DAY) });
      await handle.signal(orderSignal, completion);
      await referrals.env.sleep('9 days');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(final.qualifiedAt).toBeNull();
    });
  });

  it('given an order the intake accepted inside the window whose delivery never came, when the window is decided, then it counts', async () => {
    let reported: OrderFacts[] = [];
    await scenario({ fakes: { reportedOrders: () => reported } }, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('1 day');
      reported = [{ ...(await order('o-1', 'completed')), reportedAt: await referrals.nowIso() }];
      await referrals.env.sleep('29 days');
      await referrals.env.sleep('6 minutes');
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.qualifiedAt).toBe(reported[0]!.occurredAt);
    });
  });
});

describe('orders waiting for a signup delivered late', () => {
  // the claim lives 90 days; its signup, made on day 1, reaches the workflow on day 40, after the window has closed
  async function lateSignupScenario(orderReportedOnDay: number): Promise<{ status: string; kinds: string[] }> {
    let result: { status: string; kinds: string[] } | undefined;
    const t0 = await referrals.env.currentTimeMs();
    const early: OrderFacts = {
      ...(await order('o-1', 'completed')),
      occurredAt: at(t0 + 2 * DAY),
      reportedAt: at(t0 + orderReportedOnDay * DAY),
    };
    await scenario({ fakes: { earlyOrders: [early] } }, async ({ handle, fakes }) => {
      await referrals.env.sleep('40 days');
      await handle.executeUpdate(registerUpdate, { args: [{ ...(await signup()), occurredAt: at(t0 + DAY) }] });
      const final = await handle.result();
      await projectionCaughtUp(handle, fakes).catch(() => undefined);
      result = { status: final.status, kinds: fakes.kinds() };
    });
    return result!;
  }

  it('given an order reported after the window and its grace, when the late signup takes it, then it is a late fact and the referral expires', async () => {
    const { status, kinds } = await lateSignupScenario(35);
    expect(status).toBe('expired');
    expect(kinds).toContain('late_fact');
    expect(kinds).not.toContain('qualified');
  });

  it('given an order reported inside the window, when the late signup takes it, then it counts and the referral completes', async () => {
    const { status, kinds } = await lateSignupScenario(10);
    expect(status).toBe('completed');
    expect(kinds).not.toContain('late_fact');
  });
});
