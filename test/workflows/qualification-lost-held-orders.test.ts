import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate, stateQuery } from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import {
  projectionCaughtUp,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

/**
 * During the hold an order dated after it waits for the hold's decision, so it cannot undo the reward the hold is
 * earning. When a cancel dated inside the hold takes the qualification away, that order is judged by the window again:
 * dated inside the window and reported in time, it qualifies the referral anew, however late the loss is decided.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (ms: number) => new Date(ms).toISOString();
const TERMS = { qualificationWindow: '3 hours', rewardHold: '1 hour', lateEventGrace: '10 minutes' } as const;

describe('a qualification lost during the hold, with an order held back for its decision', () => {
  it('given the window still open, when the cancel arrives, then the held order qualifies the referral again and it completes', async () => {
    await scenario({ terms: TERMS }, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const t0 = await referrals.env.currentTimeMs();
      await handle.signal(orderSignal, { ...(await order('o-1', 'completed')), reportedAt: at(t0) });
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep(HOUR + 2 * MINUTE);
      // dated after the hold, reported in its grace: held back for the hold's decision
      const second: OrderFacts = {
        ...(await order('o-2', 'completed')),
        occurredAt: at(t0 + HOUR + MINUTE),
        reportedAt: at(t0 + HOUR + 2 * MINUTE),
      };
      await handle.signal(orderSignal, second);
      // the first order's cancel, dated inside the hold and reported in its grace
      await handle.signal(orderSignal, {
        ...(await order('o-1', 'cancelled')),
        occurredAt: at(t0 + 30 * MINUTE),
        reportedAt: at(t0 + HOUR + 2 * MINUTE),
      });
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

  it('given a loss decided after the window and its grace (our outage delayed it), when an order reported in time was held back, then the referral completes', async () => {
    let cancelOnItsWay: OrderFacts[] = [];
    let windowDecidedAtMs = Infinity;
    await scenario(
      {
        terms: TERMS,
        fakes: {
          // the inbox is unreachable until the window has been decided: the hold's decision waits on it
          reportedOrders: async () => {
            if (cancelOnItsWay.length > 0 && (await referrals.env.currentTimeMs()) <= windowDecidedAtMs)
              throw new Error('connection refused');
            const taken = cancelOnItsWay;
            cancelOnItsWay = [];
            return taken;
          },
        },
      },
      async ({ handle, fakes }) => {
        const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        windowDecidedAtMs = Date.parse(registered.deadlines.qualifyBy!) + 10 * MINUTE;
        const t0 = await referrals.env.currentTimeMs();
        await handle.signal(orderSignal, { ...(await order('o-1', 'completed')), reportedAt: at(t0) });
        await waitForStatus(handle, 'qualified');
        await referrals.env.sleep(HOUR + 2 * MINUTE);
        const second: OrderFacts = {
          ...(await order('o-2', 'completed')),
          occurredAt: at(t0 + HOUR + MINUTE),
          reportedAt: at(t0 + HOUR + 2 * MINUTE),
        };
        await handle.signal(orderSignal, second);
        // accepted by the intake in the hold's grace, its delivery cut off
        cancelOnItsWay = [
          {
            ...(await order('o-1', 'cancelled')),
            occurredAt: at(t0 + 30 * MINUTE),
            reportedAt: at(t0 + HOUR + 3 * MINUTE),
          },
        ];
        await referrals.env.sleep(3 * HOUR);
        const final = await handle.query(stateQuery);
        expect(final.status).toBe('completed');
        expect(final.qualifiedAt).toBe(second.occurredAt);
        await projectionCaughtUp(handle, fakes).catch(() => undefined);
        expect(fakes.kinds()).not.toContain('late_fact');
        expect(fakes.kinds()).toContain('qualification_lost');
      },
    );
  });
});
