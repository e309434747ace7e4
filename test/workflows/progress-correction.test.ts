import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import type { ProjectReferralInput } from '../../activities/referrals';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import { COUNTED_PROGRESS, type CarriedReferral, type TimelineEntry } from '../../workflows/shared';
import { projectedState } from '../support/fake-activities';
import { TEST_TERMS, useReferralTestEnvironment, waitForState } from '../support/referral-scenario';

const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

const DAY = 24 * 3600 * 1000;
const earlier = (now: string, ms: number) => new Date(Date.parse(now) - ms).toISOString();

/** A registered referral carried over at seq 2, as continue-as-new hands it on. */
function carriedRegistered(now: string, progressUnconfirmed: boolean): CarriedReferral {
  const registeredAt = earlier(now, DAY);
  return {
    status: 'registered',
    seq: 2,
    refereeId: 'ben',
    registration: { eventId: 'signup-1', registeredAt },
    qualifiedAt: null,
    completedAt: null,
    endedAt: null,
    endReason: null,
    deadlines: {
      expiresAt: null,
      qualifyBy: new Date(Date.parse(registeredAt) + 30 * DAY).toISOString(),
      holdUntil: null,
    },
    orders: [],
    recentTimeline: [{ seq: 2, at: registeredAt, kind: 'registered', status: 'registered' }],
    projectedProgress: undefined,
    ...(progressUnconfirmed ? { progressUnconfirmed } : {}),
  };
}

/** What the database holds: the registration the run carried, and a count at the next seq its last task wrote. */
function storeWithLostCount(now: string, referralId: string): ProjectReferralInput[] {
  const write = (entry: TimelineEntry, countedOrders: number): ProjectReferralInput => ({
    referral: {
      referralId,
      status: 'registered',
      programId: 'program-1',
      programVersion: 1,
      currency: 'INR',
      code: 'ANNA2026',
      referrerId: 'anna',
      refereeId: 'ben',
      createdAt: earlier(now, 2 * DAY),
      registeredAt: earlier(now, DAY),
      qualifiedAt: null,
      completedAt: null,
      endedAt: null,
      endReason: null,
      deadlines: { expiresAt: null, qualifyBy: null, holdUntil: null },
      terms: TEST_TERMS,
      progress: { countedOrders, countedSpend: countedOrders * 10_000, minOrders: 1, minSpend: 50_000 },
    },
    entry,
  });
  return [
    write({ seq: 2, at: earlier(now, DAY), kind: 'registered', status: 'registered' }, 0),
    write({ seq: 3, at: earlier(now, 60_000), kind: COUNTED_PROGRESS, status: 'registered' }, 1),
  ];
}

describe('the count a lost workflow task may have left in the projection', () => {
  it.each([
    ['unconfirmed', 0, true],
    ['confirmed (nothing is asked)', 1, false],
  ])(
    'given a run carried over with its count %s and a count at the next seq in the projection, when it begins, then the projection shows %i counted orders',
    async (_which, shownCount, progressUnconfirmed) => {
      const store: ProjectReferralInput[] = [];
      await scenario(
        {
          carried: (now, referralId) => {
            store.push(...storeWithLostCount(now, referralId));
            return carriedRegistered(now, progressUnconfirmed);
          },
          fakes: { projections: store },
        },
        async ({ handle }) => {
          await waitForState(handle, (s) => s.status === 'registered');
          await referrals.env.sleep('1 minute');
          await waitForState(handle, (s) => s.status === 'registered');
          const { row } = projectedState(store);
          expect(row?.entry.seq).toBe(3);
          expect(row?.referral.progress.countedOrders).toBe(shownCount);
        },
      );
    },
  );

  it.each([
    ['placed (no count moves in any order of arrival)', ['placed', 'placed'], 0],
    ['placed, then cancelled (a cancel could uncount in another order)', ['placed', 'cancelled'], 1],
  ] as const)(
    'given a registered referral, when an order is %s, then that many corrections are asked, and nothing is shown',
    async (_which, statuses, corrections) => {
      await scenario({}, async ({ handle, fakes }) => {
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await waitForState(handle, (s) => Boolean(s.rewards?.voucher));
        const before = fakes.projections.length;
        const shown = projectedState(fakes.projections);
        for (const status of statuses) await handle.signal(orderSignal, await order('o-1', status));
        await signalsTaken(handle, statuses.length);
        const asked = fakes.projections.slice(before);
        expect(asked.map((write) => write.correctsOnly)).toEqual(Array(corrections).fill(true));
        expect(projectedState(fakes.projections)).toEqual(shown);
      });
    },
  );
});

/** Waits until the workflow has taken `count` signals and finished the task that took the last. */
async function signalsTaken(handle: WorkflowHandle, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const events = (await handle.fetchHistory()).events ?? [];
    const signalled = events.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
    const lastSignal = events.findLastIndex((e) => e.workflowExecutionSignaledEventAttributes);
    const completedAfter = events.slice(lastSignal).some((e) => e.workflowTaskCompletedEventAttributes);
    if (signalled >= count && completedAfter) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the workflow did not take ${count} signals`);
}
