import { describe, expect, it } from 'vitest';
import {
  moveTermsUpdate,
  orderSignal,
  registerUpdate,
  stateQuery,
  termsMovePreviewQuery,
} from '../../workflows/messages';
import { useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';
import { DAY, move, refusal, version2 } from '../support/terms-move';

/** The rule's safeguards: what a move to new terms never takes away from a referral. */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('what a move never takes away', () => {
  it('given a window that has ended and whose grace is running, when moved to terms without a grace, then the move is refused and a fact reported in the grace still counts', async () => {
    await scenario({ terms: { lateEventGrace: '1 hour' } }, async ({ handle }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep(30 * DAY + 10 * 60_000);
      const noGrace = version2({ lateEventGrace: '0' });
      expect(await handle.query(termsMovePreviewQuery, noGrace, await referrals.nowIso())).toMatchObject({
        outcome: 'refused',
        code: 'window_past_new_end',
      });
      const refused = await handle.executeUpdate(moveTermsUpdate, { args: [move(noGrace)] }).catch((e: unknown) => e);
      expect(refusal(refused).message).toContain('window_past_new_end');
      // the order completed in the window, reported in its grace: it counts
      await handle.signal(orderSignal, {
        ...(await order('o-1', 'completed')),
        occurredAt: new Date(Date.parse(registered.deadlines.qualifyBy!) - 60_000).toISOString(),
      });
      await waitForStatus(handle, 'qualified');
    });
  });

  it('given a run carried over before extensions were kept, whose window an admin had extended, when moved to a shorter window, then the extension stands', async () => {
    const registeredAt = (now: string) => new Date(Date.parse(now) - 5 * DAY).toISOString();
    await scenario(
      {
        carried: (now) => ({
          status: 'registered',
          seq: 3,
          refereeId: 'ben',
          registration: { eventId: 'signup-1', registeredAt: registeredAt(now) },
          qualifiedAt: null,
          completedAt: null,
          endedAt: null,
          endReason: null,
          // 30 days from the registration, extended by an admin to 40
          deadlines: {
            expiresAt: null,
            qualifyBy: new Date(Date.parse(registeredAt(now)) + 40 * DAY).toISOString(),
            holdUntil: null,
          },
          orders: [],
          recentTimeline: [],
        }),
      },
      async ({ handle }) => {
        const before = await handle.query(stateQuery);
        const moved = await handle.executeUpdate(moveTermsUpdate, {
          args: [move(version2({ qualificationWindow: '35 days' }))],
        });
        expect(moved.deadlines.qualifyBy).toBe(before.deadlines.qualifyBy);
      },
    );
  });

  it('given a qualified referral, when moved to a lower minimum spend, then its qualification instant moves to the order that now meets it, and the change says so', async () => {
    await scenario({ terms: { minSpend: 100_000 } }, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const first = await order('o-1', 'completed', 60_000);
      await handle.signal(orderSignal, first);
      await referrals.env.sleep('1 hour');
      await handle.signal(orderSignal, await order('o-2', 'completed', 60_000));
      const qualified = await waitForStatus(handle, 'qualified');
      const moved = await handle.executeUpdate(moveTermsUpdate, { args: [move(version2({ minSpend: 50_000 }))] });
      expect(moved.qualifiedAt).toBe(new Date(first.occurredAt).toISOString());
      expect(moved.deadlines.holdUntil).toBe(new Date(Date.parse(first.occurredAt) + 7 * DAY).toISOString());
      // the audit entry is written just after the update answers
      for (let i = 0; i < 100 && fakes.adminActions.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const entry = fakes.projections.map((p) => p.entry).find((e) => e.kind === 'terms_moved');
      expect(entry?.detail).toMatchObject({ qualifiedAt: { from: qualified.qualifiedAt, to: moved.qualifiedAt } });
      expect(fakes.adminActions[0]?.after).toMatchObject({ qualifiedAt: moved.qualifiedAt });
    });
  });
});
