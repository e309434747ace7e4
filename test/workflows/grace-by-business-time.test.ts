import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate, stateQuery } from '../../workflows/messages';
import { FAULTS } from '../../workflows/shared';
import {
  projectionCaughtUp,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

/**
 * Deadlines are decided by business time, whatever order the worker sees things in: an event dated after a deadline
 * never undoes what the deadline earned, an event reported after a grace is late however the task was scheduled, a
 * late event is on the timeline once, nothing held back for a decision is lost when the referral ends, and a local
 * activity's failure that no retry can fix stops the referral as a regular activity's does.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const dataError = () =>
  ApplicationFailure.create({ type: FAULTS.databaseData, message: 'invalid byte sequence', nonRetryable: true });

describe('deadlines decided by business time', () => {
  it('given a qualified referral, when a refund dated after the hold ends is reported before it ends, then the referral completes all the same', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      const qualified = await waitForStatus(handle, 'qualified');
      const holdUntil = Date.parse(qualified.deadlines.holdUntil!);
      await referrals.env.sleep(holdUntil - (await referrals.env.currentTimeMs()) - 2 * 60_000);
      // the commerce clock runs a few minutes ahead: the refund is dated 4 minutes after the hold ends
      await handle.signal(orderSignal, {
        ...(await order('o-1', 'refunded')),
        occurredAt: new Date(holdUntil + 4 * 60_000).toISOString(),
      });
      await referrals.env.sleep('10 minutes');
      const completed = await waitForStatus(handle, 'completed');
      expect(completed.completedAt).not.toBeNull();
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual(['claimed', 'registered', 'voucher_issued', 'qualified', 'completed']);
    });
  });

  it('given a late order, when it is delivered three times, then the timeline shows it once', async () => {
    await scenario(
      { terms: { qualificationWindow: '1 day', lateEventGrace: '1 minute' } },
      async ({ handle, fakes }) => {
        const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await handle.signal(orderSignal, await order('o-1', 'completed'));
        await waitForStatus(handle, 'qualified');
        await referrals.env.sleep('1 day');
        await referrals.env.sleep('5 minutes');
        const late = { ...(await order('o-2', 'completed')), occurredAt: registered.deadlines.qualifyBy! };
        for (let i = 0; i < 3; i++) await handle.signal(orderSignal, late);
        await waitForState(handle, (s) => s.recentTimeline.some((entry) => entry.kind === 'late_fact'));
        await referrals.env.sleep('1 minute');
        await projectionCaughtUp(handle, fakes);
        expect(fakes.kinds().filter((kind) => kind === 'late_fact')).toHaveLength(1);
      },
    );
  });

  it('given a registered referral whose window closes, when an order dated after the window was held back for the decision, then it is on the timeline after the end', async () => {
    await scenario(
      { terms: { qualificationWindow: '1 day', lateEventGrace: '10 minutes' } },
      async ({ handle, fakes }) => {
        const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await referrals.env.sleep('1 day');
        await referrals.env.sleep('2 minutes');
        const after = {
          ...(await order('o-9', 'completed')),
          eventId: randomUUID(),
          occurredAt: new Date(Date.parse(registered.deadlines.qualifyBy!) + 60_000).toISOString(),
        };
        await handle.signal(orderSignal, after);
        await referrals.env.sleep('10 minutes');
        const final = await handle.result();
        expect(final.status).toBe('expired');
        expect(fakes.projections.at(-1)?.entry).toMatchObject({
          kind: 'late_fact',
          detail: { eventId: after.eventId, reason: 'dated after the deadline that ended the referral' },
        });
      },
    );
  });

  it('given a signup whose check fails in a way no retry fixes (a local activity), then the signup is refused as a fault, the fault is kept, and the referral stays pending', async () => {
    await scenario(
      { fakes: { beforeRegistration: async () => Promise.reject(dataError()) } },
      async ({ handle, fakes }) => {
        const refused = await handle
          .executeUpdate(registerUpdate, { args: [await signup()] })
          .catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: FAULTS.referralFault });
        expect(fakes.faults).toMatchObject([{ activity: 'registerReferee', failureType: FAULTS.databaseData }]);
        expect((await handle.query(stateQuery)).status).toBe('pending');
      },
    );
  });

  it('given a claim whose first write fails in a way no retry fixes (a local activity), then the referral stops with its fault kept instead of failing bare', async () => {
    await scenario(
      { fakes: { failProjection: (input) => (input.entry.kind === 'claimed' ? dataError() : undefined) } },
      async ({ handle, fakes }) => {
        const failure = await handle.result().catch((error: unknown) => error);
        expect(String((failure as Error).cause ?? failure)).toContain('stopped');
        expect(fakes.faults).toMatchObject([{ failureType: FAULTS.databaseData }]);
      },
    );
  });
});
