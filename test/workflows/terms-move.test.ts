import { describe, expect, it } from 'vitest';
import {
  extendUpdate,
  moveTermsUpdate,
  orderSignal,
  registerUpdate,
  stateQuery,
  termsMovePreviewQuery,
} from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import { useReferralTestEnvironment, waitForStatus } from '../support/referral-scenario';
import { DAY, move, refusal, version2 } from '../support/terms-move';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('moving a referral to new terms', () => {
  it('given a registered referral on day 20 of 30, when it is moved to a 45-day window, then the dry run says so, the move applies it and an order on day 40 qualifies it', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('20 days');
      const to = version2({ qualificationWindow: '45 days' });
      const newEnd = new Date(Date.parse(registered.registeredAt!) + 45 * DAY).toISOString();

      const plan = await handle.query(termsMovePreviewQuery, to, await referrals.nowIso());
      expect(plan).toMatchObject({
        outcome: 'move',
        fromVersion: 1,
        toVersion: 2,
        changes: {
          deadlines: [{ deadline: 'qualifyBy', from: registered.deadlines.qualifyBy, to: newEnd }],
          terms: [{ term: 'qualificationWindow', from: '30 days', to: '45 days' }],
        },
      });
      // the dry run changed nothing
      expect((await handle.query(stateQuery)).programVersion).toBe(1);

      const moved = await handle.executeUpdate(moveTermsUpdate, { args: [move(to)] });
      expect(moved).toMatchObject({ programVersion: 2, deadlines: { qualifyBy: newEnd } });
      expect(moved.terms.qualificationWindow).toBe('45 days');
      // the same request again is answered, not applied twice
      expect((await handle.executeUpdate(moveTermsUpdate, { args: [move(to)] })).programVersion).toBe(2);

      await referrals.env.sleep('20 days');
      expect((await handle.query(stateQuery)).status).toBe('registered');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      expect(fakes.kinds().filter((kind) => kind === 'terms_moved')).toHaveLength(1);
      expect(fakes.adminActions).toEqual([
        expect.objectContaining({
          action: 'move',
          requestId: 'move-1',
          before: expect.objectContaining({ programVersion: 1, deadlines: registered.deadlines }),
          after: expect.objectContaining({
            programVersion: 2,
            deadlines: expect.objectContaining({ qualifyBy: newEnd }),
          }),
        }),
      ]);
    });
  });

  it('given a registered referral on day 20, when moved to a 15-day window (an end already past), then the move is refused and the referral is unchanged', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('20 days');
      const to = version2({ qualificationWindow: '15 days' });
      expect(await handle.query(termsMovePreviewQuery, to, await referrals.nowIso())).toMatchObject({
        outcome: 'refused',
        code: 'window_past_new_end',
      });
      const refused = await handle.executeUpdate(moveTermsUpdate, { args: [move(to)] }).catch((e: unknown) => e);
      expect(refusal(refused)).toMatchObject({ type: 'invalid_transition' });
      expect(refusal(refused).message).toContain('window_past_new_end');
      const state = await handle.query(stateQuery);
      expect(state).toMatchObject({ programVersion: 1, deadlines: registered.deadlines });
      expect(fakes.adminActions).toEqual([]);
    });
  });

  it('given a registered referral on day 5, when moved to a 10-day window, then it expires on day 10 under the new terms', async () => {
    await scenario({}, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('5 days');
      await handle.executeUpdate(moveTermsUpdate, { args: [move(version2({ qualificationWindow: '10 days' }))] });
      await referrals.env.sleep('6 days');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'expired', endReason: 'qualification_window_closed', programVersion: 2 });
    });
  });

  it('given a qualified referral in its hold, when moved to a shorter hold and more points, then it completes at the new end paying the new points; terms its orders do not meet are refused', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed', 60_000));
      const qualified = await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('1 day');

      const stricter = await handle
        .executeUpdate(moveTermsUpdate, { args: [move(version2({ minSpend: 100_000 }), 'move-strict')] })
        .catch((e: unknown) => e);
      expect(refusal(stricter).message).toContain('would_lose_qualification');

      const to = version2({ rewardHold: '3 days', referrerPoints: 3_000 });
      const moved = await handle.executeUpdate(moveTermsUpdate, { args: [move(to)] });
      const holdUntil = new Date(Date.parse(qualified.qualifiedAt!) + 3 * DAY).toISOString();
      expect(moved).toMatchObject({ status: 'qualified', programVersion: 2, deadlines: { holdUntil } });
      await referrals.env.sleep(2 * DAY + 3_600_000);
      await waitForStatus(handle, 'completed');
      expect(fakes.creditCalls).toEqual([expect.objectContaining({ points: 3_000 })]);
    });
  });

  it('given a referral qualified by an order whose refund, dated after the hold, was reported with it, when moved, then the move judges it at its hold as the referral does: same hold moved, a hold the refund falls in refused', async () => {
    const HOUR = 3_600_000;
    const terms = { rewardHold: '1 hour', lateEventGrace: '2 hours' } as const;
    const reportedWithTheSignup: OrderFacts[] = [];
    await scenario({ terms, fakes: { earlyOrders: reportedWithTheSignup } }, async ({ handle }) => {
      const t = await referrals.env.currentTimeMs();
      const at = (hours: number) => new Date(t + hours * HOUR).toISOString();
      await referrals.env.sleep(3 * HOUR);
      // the signup and both order events reach the referral in one moment, hours after they happened
      const completion = { ...(await order('o-1', 'completed')), occurredAt: at(0.2), reportedAt: at(2.9) };
      const refund = { ...(await order('o-1', 'refunded')), occurredAt: at(1.3), reportedAt: at(2.9) };
      reportedWithTheSignup.push(completion, refund);
      await handle.executeUpdate(registerUpdate, { args: [{ ...(await signup()), occurredAt: at(0.1) }] });
      // the hold ended at 1.2 h, before the refund: it is decided at 3.2 h, with the reward kept
      const qualified = await waitForStatus(handle, 'qualified');
      expect(qualified.qualifiedAt).toBe(completion.occurredAt);

      const sameHold = version2(terms);
      expect(await handle.query(termsMovePreviewQuery, sameHold, await referrals.nowIso())).toMatchObject({
        outcome: 'move',
        qualifiedAt: completion.occurredAt,
      });
      const weekLongHold = await handle
        .executeUpdate(moveTermsUpdate, { args: [move(version2({ ...terms, rewardHold: '7 days' }), 'move-week')] })
        .catch((e: unknown) => e);
      expect(refusal(weekLongHold).message).toContain('would_lose_qualification');
      const moved = await handle.executeUpdate(moveTermsUpdate, { args: [move(sameHold)] });
      expect(moved).toMatchObject({ status: 'qualified', programVersion: 2, qualifiedAt: completion.occurredAt });
      await referrals.env.sleep(HOUR);
      expect((await waitForStatus(handle, 'completed')).qualifiedAt).toBe(completion.occurredAt);
    });
  });

  it('given a qualified referral in its hold’s grace with a refund dated after the hold held back, when moved to a hold the refund falls in, then the dry run and the move refuse it and the referral completes', async () => {
    const HOUR = 3_600_000;
    const terms = { rewardHold: '1 hour', lateEventGrace: '2 hours' } as const;
    await scenario({ terms }, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const t = await referrals.env.currentTimeMs();
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      // the hold ended at 1 h and is decided at 3 h; a refund dated 1.3 h waits for that decision
      await referrals.env.sleep(1.5 * HOUR);
      await handle.signal(orderSignal, {
        ...(await order('o-1', 'refunded')),
        occurredAt: new Date(t + 1.3 * HOUR).toISOString(),
      });
      const weekLongHold = version2({ ...terms, rewardHold: '7 days' });
      expect(await handle.query(termsMovePreviewQuery, weekLongHold, await referrals.nowIso())).toMatchObject({
        outcome: 'refused',
        code: 'would_lose_qualification',
      });
      const refused = await handle
        .executeUpdate(moveTermsUpdate, { args: [move(weekLongHold)] })
        .catch((e: unknown) => e);
      expect(refusal(refused).message).toContain('would_lose_qualification');
      await referrals.env.sleep(2 * HOUR);
      expect((await waitForStatus(handle, 'completed')).programVersion).toBe(1);
    });
  });

  it('given a registered referral whose window an admin extended, when moved to a shorter window, then the extension stands', async () => {
    await scenario({}, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const extended = await handle.executeUpdate(extendUpdate, {
        args: [{ requestId: 'extend-1', actor: 'ops', by: '10 days' }],
      });
      const moved = await handle.executeUpdate(moveTermsUpdate, {
        args: [move(version2({ qualificationWindow: '20 days', minOrders: 2 }))],
      });
      expect(moved.deadlines.qualifyBy).toBe(extended.deadlines.qualifyBy);
      expect(moved.progress.minOrders).toBe(2);
    });
  });

  it('given a pending referral, when moved to a longer expiry, then it waits for its signup until the new end; the version it runs under already is refused', async () => {
    await scenario({}, async ({ handle }) => {
      const same = await handle
        .executeUpdate(moveTermsUpdate, { args: [move({ ...version2({}), version: 1 })] })
        .catch((e: unknown) => e);
      expect(refusal(same).message).toContain('same_version');
      await handle.executeUpdate(moveTermsUpdate, { args: [move(version2({ referralExpiry: '120 days' }))] });
      await referrals.env.sleep('100 days');
      expect((await handle.query(stateQuery)).status).toBe('pending');
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      expect(registered).toMatchObject({ status: 'registered', programVersion: 2 });
    });
  });
});
