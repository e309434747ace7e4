import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import {
  projectionCaughtUp,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

/**
 * During the hold an order dated after it waits for the hold's decision, so it cannot undo the reward the hold is
 * earning. When a cancel dated inside the hold takes the qualification away, an order held back that is dated inside
 * the window still counts, however late the loss is decided (our own outage can delay it past the window's grace);
 * one dated after the window is shown as late when the referral ends.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (ms: number) => new Date(ms).toISOString();
const TERMS = { qualificationWindow: '3 hours', rewardHold: '1 hour', lateEventGrace: '10 minutes' } as const;

type Scenario = Parameters<Parameters<typeof scenario>[1]>[0];

/** An order event of the scenario dated `occurredMin` and reported `reportedMin` minutes after t0. */
async function fact(
  t0: number,
  orderId: string,
  status: OrderFacts['status'],
  occurredMin: number,
  reportedMin: number,
) {
  const event = await order(orderId, status);
  return { ...event, occurredAt: at(t0 + occurredMin * MINUTE), reportedAt: at(t0 + reportedMin * MINUTE) };
}

/** Registers the referee and qualifies the referral by o-1 at t0 (its hold runs to t0 + 1 h); returns t0. */
async function qualifiedAtT0(handle: Scenario['handle']): Promise<number> {
  await handle.executeUpdate(registerUpdate, { args: [await signup()] });
  const t0 = await referrals.env.currentTimeMs();
  await handle.signal(orderSignal, { ...(await order('o-1', 'completed')), reportedAt: at(t0) });
  await waitForStatus(handle, 'qualified');
  return t0;
}

/**
 * A referral qualified by o-1 at t0, then the cancel of o-1 dated inside the hold, accepted by the intake in the hold's
 * grace while its delivery was cut off: it waits in the inbox, which cannot be read until `decideLoss()` (which lets
 * five minutes pass after), so the hold's decision, and the loss, wait on it.
 */
function lateLossScenario(
  body: (ctx: Pick<Scenario, 'handle' | 'fakes'> & { t0: number; decideLoss: () => Promise<void> }) => Promise<void>,
): Promise<void> {
  let inboxDown = false;
  let cancelOnItsWay: OrderFacts[] = [];
  const inbox = () => {
    if (inboxDown) throw new Error('connection refused');
    const taken = cancelOnItsWay;
    cancelOnItsWay = [];
    return taken;
  };
  return scenario({ terms: TERMS, fakes: { reportedOrders: inbox } }, async ({ handle, fakes }) => {
    const t0 = await qualifiedAtT0(handle);
    cancelOnItsWay = [await fact(t0, 'o-1', 'cancelled', 30, 61)];
    inboxDown = true;
    const decideLoss = async () => {
      inboxDown = false;
      await referrals.env.sleep(5 * MINUTE);
    };
    await body({ t0, handle, fakes, decideLoss });
  });
}

// Each waits out real local-activity retries while the inbox is down: on a busy machine that takes its time.
describe('a qualification lost during the hold, with an order held back for its decision', { timeout: 120_000 }, () => {
  it('given the window still open, when the cancel arrives, then the held order qualifies the referral again and it completes', async () => {
    await scenario({ terms: TERMS }, async ({ handle, fakes }) => {
      const t0 = await qualifiedAtT0(handle);
      await referrals.env.sleep(HOUR + 2 * MINUTE);
      const second = await fact(t0, 'o-2', 'completed', 61, 62);
      await handle.signal(orderSignal, second);
      await handle.signal(orderSignal, await fact(t0, 'o-1', 'cancelled', 30, 62));
      await waitForState(handle, (s) => s.status === 'qualified' && s.qualifiedAt === second.occurredAt);
      await referrals.env.sleep(HOUR + 15 * MINUTE);
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.qualifiedAt).toBe(second.occurredAt);
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual([
        'claimed',
        'registered',
        'voucher_issued',
        'qualified',
        'qualification_lost',
        'qualified',
        'completed',
      ]);
    });
  });

  it('given a loss decided after the window and its grace, when an order dated inside the window was held back, then the hold runs again from it and the referral completes', async () => {
    await lateLossScenario(async ({ t0, handle, fakes, decideLoss }) => {
      await referrals.env.sleep(HOUR + 2 * MINUTE);
      // dated after the hold, inside the window, reported in the hold's grace: held back for the hold's decision
      const second = await fact(t0, 'o-2', 'completed', 61, 62);
      await handle.signal(orderSignal, second);
      await referrals.env.sleep(3 * HOUR);
      await decideLoss();
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.qualifiedAt).toBe(second.occurredAt);
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual([
        'claimed',
        'registered',
        'voucher_issued',
        'qualified',
        'hold_moved',
        'completed',
      ]);
    });
  });

  it('given a loss decided after the window and its grace, when the order held back is dated after the window, then the referral expires and shows it as late', async () => {
    await lateLossScenario(async ({ t0, handle, fakes, decideLoss }) => {
      await referrals.env.sleep(3 * HOUR + 5 * MINUTE);
      const afterWindow = await fact(t0, 'o-2', 'completed', 182, 185);
      await handle.signal(orderSignal, afterWindow);
      await referrals.env.sleep(10 * MINUTE);
      await decideLoss();
      const expired = await waitForStatus(handle, 'expired');
      expect(expired.endReason).toBe('qualification_lost_after_window');
      await projectionCaughtUp(handle, fakes);
      expect(fakes.projections.at(-1)?.entry).toMatchObject({
        kind: 'late_fact',
        detail: { eventId: afterWindow.eventId, reason: 'dated after the deadline that ended the referral' },
      });
    });
  });

  it('given a loss decided after the window, when the order held back inside the window was refunded after it, inside the hold it would start, then the referral expires without a hold moved to it', async () => {
    await lateLossScenario(async ({ t0, handle, fakes, decideLoss }) => {
      await referrals.env.sleep(3 * HOUR + 10 * MINUTE);
      await handle.signal(orderSignal, await fact(t0, 'o-2', 'completed', 150, 151));
      await handle.signal(orderSignal, await fact(t0, 'o-2', 'refunded', 185, 186));
      await referrals.env.sleep(50 * MINUTE);
      await decideLoss();
      const expired = await waitForStatus(handle, 'expired');
      expect(expired.endReason).toBe('qualification_lost_after_window');
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).not.toContain('hold_moved');
    });
  });
});
