import { WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cancelUpdate, orderSignal, registerUpdate, rejectUpdate, stateQuery } from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import {
  projectionCaughtUp,
  scheduledActivities,
  useReferralTestEnvironment,
  waitForState,
  waitForStatus,
} from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

describe('referral workflow', () => {
  it('given a pending referral, when 89 days pass it is still pending, and after 91 days it is expired and closed in the projection', async () => {
    await scenario({}, async ({ handle, fakes, input }) => {
      await referrals.env.sleep('89 days');
      expect((await handle.query(stateQuery)).status).toBe('pending');
      await referrals.env.sleep('2 days');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(final.endReason).toBe('referral_expired');
      expect(fakes.statuses()).toEqual(['pending', 'expired']);
      expect(fakes.closed).toEqual([input.referralId]);
    });
  });

  describe('the close of a failed referral', () => {
    it('given a pending referral, when it expires, then the write of its end closes it and no close follows', async () => {
      await scenario({}, async ({ handle, fakes, input }) => {
        await referrals.env.sleep('91 days');
        expect((await handle.result()).status).toBe('expired');
        const end = fakes.projections.at(-1)!;
        expect(end.entry.kind).toBe('referral_expired');
        expect(end.closedAt).toBe(end.entry.at);
        expect(fakes.closed).toEqual([input.referralId]);
        expect(await scheduledActivities(handle)).not.toContain('markReferralClosed');
      });
    });

    it('given an end written by a worker that does not close with it, when the referral expires, then the workflow closes it itself', async () => {
      await scenario({ fakes: { writesWithoutClose: true } }, async ({ handle, fakes, input }) => {
        await referrals.env.sleep('91 days');
        expect((await handle.result()).status).toBe('expired');
        // asked to close with the end, and told nothing of a close
        expect(fakes.projections.at(-1)?.closedAt).toBe(fakes.projections.at(-1)?.entry.at);
        expect(fakes.closed).toEqual([input.referralId]);
        expect((await scheduledActivities(handle)).at(-1)).toBe('markReferralClosed');
      });
    });

    for (const [action, update, args] of [
      ['cancel', cancelUpdate, { requestId: 'cancel-1', actor: 'ops' }],
      ['reject', rejectUpdate, { requestId: 'reject-1', actor: 'ops', reason: 'duplicate account' }],
    ] as const) {
      it(`given a registered referral, when an admin's ${action} ends it, then the end's write closes it and the audit row still follows`, async () => {
        await scenario({}, async ({ handle, fakes, input }) => {
          await handle.executeUpdate(registerUpdate, { args: [await signup()] });
          await handle.executeUpdate(update, { args: [args] });
          await handle.result();
          const end = fakes.projections.findLast((p) => p.closedAt !== undefined);
          expect(end?.entry).toMatchObject({ kind: action === 'cancel' ? 'cancelled' : 'rejected' });
          expect(fakes.closed).toEqual([input.referralId]);
          expect(fakes.adminActions).toEqual([expect.objectContaining({ action, requestId: args.requestId })]);
          expect(await scheduledActivities(handle)).not.toContain('markReferralClosed');
        });
      });
    }

    it('given a referral of the first workflow type, when it expires, then its end asks no close and the close follows, as its runs always did', async () => {
      await scenario({ firstType: true }, async ({ handle, fakes, input }) => {
        await referrals.env.sleep('91 days');
        expect((await handle.result()).status).toBe('expired');
        expect(fakes.projections.every((p) => p.closedAt === undefined)).toBe(true);
        expect(fakes.closed).toEqual([input.referralId]);
        expect((await scheduledActivities(handle)).at(-1)).toBe('markReferralClosed');
      });
    });
  });

  it('given a registered referral, when a qualifying order completes on day 29, then it qualifies and completes 8 days later', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      expect(registered.status).toBe('registered');
      expect(registered.refereeId).toBe('ben');

      await referrals.env.sleep('29 days');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('6 days');
      expect((await handle.query(stateQuery)).status).toBe('qualified');
      await referrals.env.sleep('2 days');
      const final = await handle.result();
      expect(final.status).toBe('completed');
      expect(final.progress).toMatchObject({ countedOrders: 1, countedSpend: 60_000 });
      expect(fakes.kinds()).toEqual([
        'claimed',
        'registered',
        'voucher_issued',
        'qualified',
        'completed',
        'milestone_missed',
      ]);
      expect(fakes.statuses()).toEqual(['pending', 'registered', 'registered', 'qualified', 'completed', 'completed']);
    });
  });

  it('given a registered referral, when nothing qualifies by day 31, then it is expired', async () => {
    await scenario({}, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('small', 'completed', 49_999));
      await referrals.env.sleep('31 days');
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(final.endReason).toBe('qualification_window_closed');
      expect(final.progress).toMatchObject({ countedOrders: 1, countedSpend: 49_999 });
    });
  });

  it('given a qualified referral, when its qualifying order is refunded during the hold, then it is registered again and can requalify', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('1 day');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('3 days');
      await handle.signal(orderSignal, await order('o-1', 'refunded'));
      await waitForStatus(handle, 'registered');
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toContain('qualification_lost');

      await handle.signal(orderSignal, await order('o-2', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('8 days');
      expect((await handle.result()).status).toBe('completed');
    });
  });

  it('given a referral qualified late in its window, when the order is refunded after the window closed, then it is expired', async () => {
    await scenario({}, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await referrals.env.sleep('29 days');
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await referrals.env.sleep('3 days');
      await handle.signal(orderSignal, await order('o-1', 'refunded'));
      const final = await handle.result();
      expect(final.status).toBe('expired');
      expect(final.endReason).toBe('qualification_lost_after_window');
    });
  });

  it('given a pending referral, when the referrer signs up with their own code, then the update is refused and it stays pending', async () => {
    await scenario({}, async ({ handle }) => {
      const refused = await handle
        .executeUpdate(registerUpdate, { args: [await signup(undefined, 'anna')] })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'self_referral' });
      expect((await handle.query(stateQuery)).status).toBe('pending');

      const accepted = await handle.executeUpdate(registerUpdate, { args: [await signup(undefined, 'ben')] });
      expect(accepted.status).toBe('registered');
    });
  });

  it('given a referral created by a signup, when that signup is refused, then the workflow ends without projecting anything', async () => {
    await scenario({ origin: 'signup', fakes: { alreadyReferred: ['ben'] } }, async ({ handle, fakes }) => {
      const refused = await handle.executeUpdate(registerUpdate, { args: [await signup()] }).catch((e: unknown) => e);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'already_referred' });
      await handle.result();
      expect(fakes.projections).toEqual([]);
      expect(fakes.closed).toEqual([]);
    });
  });

  it('given a registration, when the same signup event is delivered again, then it is answered with the same state', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      const event = await signup('signup-1');
      const first = await handle.executeUpdate(registerUpdate, { args: [event] });
      const again = await handle.executeUpdate(registerUpdate, { args: [event] });
      expect(again.registeredAt).toBe(first.registeredAt);
      expect(fakes.registrations).toEqual(['ben']);
      const other = await handle
        .executeUpdate(registerUpdate, { args: [await signup('signup-2', 'carl')] })
        .catch((e: unknown) => e);
      expect((other as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'referral_not_pending' });
    });
  });

  it('given orders reported before the signup, when the referral registers, then those inside the window count', async () => {
    const start = new Date(await referrals.env.currentTimeMs());
    const later = (ms: number) => new Date(start.getTime() + ms).toISOString();
    const earlyOrders: OrderFacts[] = [
      // before registration: outside the window
      {
        eventId: 'e-0',
        orderId: 'before',
        status: 'completed',
        amount: 90_000,
        currency: 'INR',
        occurredAt: later(-60_000),
      },
      // after registration, reported early
      {
        eventId: 'e-1',
        orderId: 'after',
        status: 'completed',
        amount: 50_000,
        currency: 'INR',
        occurredAt: later(60_000),
      },
    ];
    await scenario({ fakes: { earlyOrders } }, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, {
        args: [{ eventId: 's', refereeId: 'ben', occurredAt: start.toISOString() }],
      });
      const state = await waitForStatus(handle, 'qualified');
      expect(state.countedOrders.map((o) => o.orderId)).toEqual(['after']);
    });
  });

  it('given one order reported many times, when it is counted, then it counts once in its latest status', async () => {
    await scenario({ terms: { minOrders: 2, minSpend: 100_000 } }, async ({ handle }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const placed = await order('o-1', 'placed', 60_000);
      const completed = { ...placed, eventId: randomUUID(), status: 'completed' as const };
      // delivered out of order: the completion is applied, then the older 'placed' must not undo it
      await handle.signal(orderSignal, completed);
      await handle.signal(orderSignal, {
        ...placed,
        occurredAt: new Date(Date.parse(placed.occurredAt) - 1000).toISOString(),
      });
      await handle.signal(orderSignal, completed);
      await handle.signal(orderSignal, completed);
      await handle.signal(orderSignal, { ...completed, eventId: 'another-delivery' });
      await handle.signal(
        orderSignal,
        await order('other-currency', 'completed', 60_000).then((o) => ({ ...o, currency: 'USD' })),
      );
      const state = await waitForState(handle, (s) => s.progress.countedOrders > 0);
      expect(state.status).toBe('registered');
      expect(state.progress).toMatchObject({ countedOrders: 1, countedSpend: 60_000 });
      await handle.signal(orderSignal, await order('o-2', 'completed', 40_000));
      await waitForStatus(handle, 'qualified');
    });
  });

  it('given any live referral, when an admin cancels it, then it is cancelled and a second cancel is refused', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'admin', reason: 'test order' }] });
      expect(cancelled.status).toBe('cancelled');
      expect(fakes.projections.at(-1)?.entry.detail).toMatchObject({ actor: 'admin', reason: 'test order' });
      // Refused by the workflow while it writes its close, by the server once it has closed; the API answers
      // referral_closed to both.
      const again = await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'admin' }] }).catch((e: unknown) => e);
      if (!(again instanceof WorkflowNotFoundError)) {
        expect(again).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((again as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'referral_closed' });
      }
      await handle.result();
      const afterClose = await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'admin' }] }).catch((e) => e);
      expect(afterClose).toBeInstanceOf(WorkflowNotFoundError);
    });
  });

  it('given a referral qualifying, when its order is refunded while the qualification is still being recorded, then it does not complete', async () => {
    let releaseQualified: () => void = () => {};
    const qualifiedRecorded = new Promise<void>((resolve) => (releaseQualified = resolve));
    const beforeProjection = async (input: { referral: { status: string } }) => {
      if (input.referral.status === 'qualified') await qualifiedRecorded;
    };
    await scenario({ fakes: { beforeProjection } }, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('o-1', 'completed'));
      await waitForStatus(handle, 'qualified');
      await handle.signal(orderSignal, await order('o-1', 'refunded'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      releaseQualified();
      // Before the fix the refund went unseen: the referral stayed qualified and completed when the hold ran out.
      const state = await waitForStatus(handle, 'registered');
      expect(state).toMatchObject({
        qualifiedAt: null,
        deadlines: { holdUntil: null },
        progress: { countedOrders: 0 },
      });
      await projectionCaughtUp(handle, fakes);
      expect(fakes.kinds()).toEqual(['claimed', 'registered', 'voucher_issued', 'qualified', 'qualification_lost']);
    });
  });

  it('given one signup delivered twice at once, when both registrations race, then both get the same answer and the referee is reserved once', async () => {
    await scenario(
      { fakes: { beforeRegistration: () => new Promise((resolve) => setTimeout(resolve, 300)) } },
      async ({ handle, fakes }) => {
        const event = await signup('signup-raced');
        const [first, second] = await Promise.all([
          handle.executeUpdate(registerUpdate, { args: [event] }),
          handle.executeUpdate(registerUpdate, { args: [event] }),
        ]);
        expect(first.status).toBe('registered');
        expect(second.registeredAt).toBe(first.registeredAt);
        expect(fakes.registrations).toEqual(['ben']);
      },
    );
  });

  it('given a signup being checked, when a different signup arrives for the same claim, then the second is never refused for good while the claim is still pending', async () => {
    const slow = {
      alreadyReferred: ['taken'],
      beforeRegistration: () => new Promise<void>((resolve) => setTimeout(resolve, 300)),
    };
    await scenario({ fakes: slow }, async ({ handle }) => {
      const first = handle
        .executeUpdate(registerUpdate, { args: [await signup('first', 'taken')] })
        .catch((e: unknown) => e);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const secondEvent = await signup('second', 'carl');
      let second = await handle.executeUpdate(registerUpdate, { args: [secondEvent] }).catch((e: unknown) => e);
      // Either the workflow task held the second until the first was refused, or the second was told to retry.
      if (second instanceof WorkflowUpdateFailedError) {
        expect(second.cause).toMatchObject({ type: 'registration_in_progress', nonRetryable: false });
        await first;
        second = await handle.executeUpdate(registerUpdate, { args: [secondEvent] });
      }
      expect(((await first) as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'already_referred' });
      expect(second).toMatchObject({ status: 'registered', refereeId: 'carl' });
    });
  });

  it('given a registered referral, when an order counts without qualifying, then the projection shows the progress', async () => {
    await scenario({}, async ({ handle, fakes }) => {
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      await handle.signal(orderSignal, await order('small', 'completed', 20_000));
      await waitForState(handle, (s) => s.progress.countedOrders === 1);
      // shown by the next write: orders_counted, or the voucher's entry when the order arrived while it was issued
      const shows = () => fakes.projections.find((p) => p.referral.progress.countedOrders === 1);
      for (let i = 0; i < 50 && !shows(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(shows()).toMatchObject({
        entry: { status: 'registered' },
        referral: { progress: { countedOrders: 1, countedSpend: 20_000 } },
      });
    });
  });

  it.each([
    [
      'a referral begun now',
      'written in the task that counted it (a local write: no activity or task of its own)',
      false,
      [],
    ],
    [
      'a referral of the first type, begun before the change',
      'written by a regular activity of its own, as before',
      true,
      ['projectReferral', 'projectReferral'],
    ],
  ])(
    'given %s, when two orders count without qualifying, then each count is %s',
    async (_which, _how, firstType, progressActivities) => {
      await scenario({ firstType }, async ({ handle, fakes }) => {
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await waitForState(handle, (s) => Boolean(s.rewards?.voucher));
        for (const [orderId, countedOrders] of [
          ['small-1', 1],
          ['small-2', 2],
        ] as const) {
          await handle.signal(orderSignal, await order(orderId, 'completed', 10_000));
          await waitForState(handle, (s) => s.progress.countedOrders === countedOrders);
        }
        const counts = () => fakes.projections.filter((p) => p.entry.kind === 'orders_counted');
        for (let i = 0; i < 50 && counts().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
        expect(counts().map((p) => p.referral.progress.countedOrders)).toEqual([1, 2]);
        const scheduled = await scheduledActivities(handle);
        expect(scheduled.filter((name) => name === 'projectReferral')).toEqual(progressActivities);
      });
    },
  );

  it('given a registration the projection cannot hold (a data error), when the signup arrives, then the fault is recorded, the referee released and the referral stops instead of retrying', async () => {
    const failProjection = (write: { referral: { status: string } }) =>
      write.referral.status === 'registered'
        ? ApplicationFailure.create({
            type: 'database_data_error',
            message: 'value too long for type character varying',
            nonRetryable: true,
          })
        : undefined;
    await scenario({ fakes: { failProjection } }, async ({ handle, fakes, input }) => {
      const refused = await handle.executeUpdate(registerUpdate, { args: [await signup()] }).catch((e: unknown) => e);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'referral_fault' });
      const failed = await handle.result().catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(WorkflowFailedError);
      expect((failed as WorkflowFailedError).cause).toMatchObject({ type: 'referral_fault', nonRetryable: true });
      expect(fakes.releases).toEqual([{ referralId: input.referralId, refereeId: 'ben' }]);
      expect(fakes.faults).toEqual([
        expect.objectContaining({
          referralId: input.referralId,
          // the registration's write, which issues the referee's voucher with it
          activity: 'projectRegistration',
          failureType: 'database_data_error',
          status: 'registered',
        }),
      ]);
      expect(fakes.statuses()).toEqual(['pending']);
      expect(fakes.vouchers.size).toBe(0);
    });
  });
});
