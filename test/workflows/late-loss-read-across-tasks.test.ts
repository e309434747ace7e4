import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { orderSignal, registerUpdate } from '../../workflows/messages';
import type { OrderFacts } from '../../workflows/shared';
import { renumberedHistory, type History, type HistoryEvent } from '../support/history-edit';
import { useReferralTestEnvironment, waitForState, waitForStatus } from '../support/referral-scenario';

const { temporal } = proto;
const { EventType } = temporal.api.enums.v1;
type RecordedHistory = proto.temporal.api.history.v1.IHistory;

/**
 * The hold's deadline reads the inbox (a local activity) for order events reported in time. When that read outlives
 * most of its workflow task's timeout, the worker sends the task on and the workflow goes on from the read's result in
 * the next; the worker may also send the result itself with the task it sends on, and a replay then takes it within
 * that task. The loss the read brings is decided by a change (referral-late-loss-counts-window-orders): asked right
 * after the result, its own marker would land in the next task, unknown to a replay that took the result in the one
 * before, and the referral would stop for good. A referral begun now has the change from its first task.
 */
const referrals = useReferralTestEnvironment();
const { scenario, signup, order } = referrals;

// Real seconds: a held activity stops the test server's time skipping.
const TERMS = { qualificationWindow: '8 seconds', rewardHold: '10 seconds', lateEventGrace: '0s' } as const;
/** past 80% of the default 10 s workflow task timeout, when the worker sends the task on */
const READ_MS = 9_000;

const completedTask = (e: HistoryEvent) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED;
const readResult = (e: HistoryEvent) => {
  const attributes = e.markerRecordedEventAttributes;
  if (attributes?.markerName !== 'core_local_activity') return false;
  const data = attributes.details?.['result']?.payloads?.[0]?.data;
  return data !== undefined && data !== null && Buffer.from(data).toString().includes('"cancelled"');
};

/**
 * Where the hold's read fell: the result that brought the cancel, the completion of the task it was recorded in, and
 * the completion of the task before (the one the worker sent on while the read ran).
 */
function holdRead(history: RecordedHistory) {
  const events = history.events!.map((e) => temporal.api.history.v1.HistoryEvent.create(e));
  const result = events.findIndex(readResult);
  const ownTask = events.findLastIndex((e, i) => i < result && completedTask(e));
  const sentOn = events.findLastIndex((e, i) => i < ownTask && completedTask(e));
  return { events, result, ownTask, sentOn };
}

/** As the worker may also send it: the read's result in the task it sent on, the workflow going on in the next. */
function resultInTaskSentOn(history: RecordedHistory): History {
  const { events, result, sentOn } = holdRead(history);
  const [moved] = events.splice(result, 1) as [HistoryEvent];
  events.splice(sentOn + 1, 0, moved);
  return renumberedHistory(events);
}

const replay = (history: RecordedHistory, workflowId: string) =>
  Worker.runReplayHistory({ workflowBundle: referrals.workflowBundle }, history, workflowId).then(
    () => 'replays',
    (error: Error) => error.message,
  );

describe('a qualification lost at the hold, read from the inbox across two workflow tasks', () => {
  it.each([
    ['a referral begun now (the change in force from its first task)', false],
    ['a referral of the first type (the change asked with its own marker, before the read)', true],
  ])(
    'given %s, with the cancel of its qualifying order reported in time and delivered only by the hold’s read, when the read outlives its task, then the referral expires after the window and its history replays however the tasks fell',
    async (_which, firstType) => {
      let cancel: OrderFacts | null = null;
      let reading = false;
      const inbox = async (): Promise<OrderFacts[]> => {
        if (!cancel) return [];
        reading = true;
        await new Promise((resolve) => setTimeout(resolve, READ_MS));
        const taken = [cancel];
        cancel = null;
        return taken;
      };
      await scenario({ terms: TERMS, fakes: { reportedOrders: inbox }, firstType }, async ({ handle }) => {
        await handle.executeUpdate(registerUpdate, { args: [await signup()] });
        await handle.signal(orderSignal, await order('o-1', 'completed'));
        await waitForStatus(handle, 'qualified');
        // dated inside the hold, accepted at once, its delivery cut off: the hold's deadline finds it in the inbox
        cancel = { ...(await order('o-1', 'cancelled')), reportedAt: await referrals.nowIso() };

        const expired = await waitForState(handle, (s) => s.status === 'expired', 40_000);
        expect(reading).toBe(true);
        expect(expired.endReason).toBe('qualification_lost_after_window');

        const history = await handle.fetchHistory();
        const { events, result, ownTask, sentOn } = holdRead(history);
        expect(result).toBeGreaterThan(-1);
        // the read outlived its task: the worker sent it on with nothing but markers, and the result came in the next
        const between = events.slice(sentOn + 1, ownTask).map((e) => e.eventType);
        expect(between.slice(-2)).toEqual([
          EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
          EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        ]);
        const markersOnly = [
          EventType.EVENT_TYPE_MARKER_RECORDED,
          EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        ];
        expect(
          between.slice(0, -2).every((type) => type !== null && type !== undefined && markersOnly.includes(type)),
        ).toBe(true);

        expect(await replay(history, handle.workflowId)).toBe('replays');
        expect(await replay(resultInTaskSentOn(history), handle.workflowId)).toBe('replays');
      });
    },
    90_000,
  );
});
