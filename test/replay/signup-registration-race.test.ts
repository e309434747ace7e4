import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { renumberedHistory, type HistoryEvent } from '../support/history-edit';
import { bundleForReplay } from '../support/replay';

const { temporal } = proto;
const { EventType } = temporal.api.enums.v1;

/**
 * A referral a signup started (update-with-start), recorded by the chaos run: its registration, a local activity, was
 * held up for most of the first task's 10 s, the worker sent the task on with the day's timer and the registration's
 * result in it, and cancelled the timer in the next task. A replay takes that result within the first task, so the
 * timer was started and cancelled in one and its start went missing: a nondeterminism error, and the referral stuck
 * once a worker restart made it replay. Referrals started since keep that timer (`referral-signup-timer-kept`): the same
 * history as they write it (the change's marker first, no cancel) replays.
 */
const FIXTURE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures/signup-registration-in-heartbeated-task.binpb',
);
const recorded = () => temporal.api.history.v1.History.decode(readFileSync(FIXTURE));

let workflowBundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  workflowBundle = await bundleForReplay();
}, 120_000);

const json = (value: unknown) => ({
  metadata: { encoding: Buffer.from('json/plain') },
  data: Buffer.from(JSON.stringify(value)),
});

/** The recorded history as the patched code writes it: the change's marker and its search attribute, no cancel. */
function asWrittenNow(history: ReturnType<typeof recorded>) {
  const events = history.events!.map((e) => temporal.api.history.v1.HistoryEvent.create(e));
  const accepted = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
  const timer = events.find((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED)!;
  const { timerId } = timer.timerStartedEventAttributes!;
  const workflowTaskCompletedEventId = timer.timerStartedEventAttributes!.workflowTaskCompletedEventId ?? null;
  const marker = temporal.api.history.v1.HistoryEvent.create({
    eventTime: timer.eventTime ?? null,
    eventType: EventType.EVENT_TYPE_MARKER_RECORDED,
    markerRecordedEventAttributes: {
      markerName: 'core_patch',
      details: { 'patch-data': { payloads: [json({ id: 'referral-signup-timer-kept', deprecated: false })] } },
      workflowTaskCompletedEventId,
    },
  });
  const changeVersion = temporal.api.history.v1.HistoryEvent.create({
    eventTime: timer.eventTime ?? null,
    eventType: EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    upsertWorkflowSearchAttributesEventAttributes: {
      workflowTaskCompletedEventId,
      searchAttributes: {
        indexedFields: {
          TemporalChangeVersion: {
            metadata: { encoding: Buffer.from('json/plain'), type: Buffer.from('KeywordList') },
            data: Buffer.from(JSON.stringify(['referral-signup-timer-kept'])),
          },
        },
      },
    },
  });
  const written: HistoryEvent[] = [
    ...events.slice(0, accepted),
    marker,
    changeVersion,
    ...events
      .slice(accepted)
      .filter(
        (e) =>
          !(e.eventType === EventType.EVENT_TYPE_TIMER_CANCELED && e.timerCanceledEventAttributes?.timerId === timerId),
      ),
  ];
  return renumberedHistory(written);
}

const replay = (history: ReturnType<typeof recorded>) =>
  Worker.runReplayHistory({ workflowBundle }, history, 'signup-registration-in-heartbeated-task').then(
    () => 'replays',
    (error: Error) => error.message,
  );

describe('a signup-started referral whose registration result travelled with its heartbeated first task', () => {
  it('given the history as recorded (the timer cancelled), when replayed, then it is non-deterministic', async () => {
    expect(await replay(recorded())).toMatch(/Nondeterminism error/);
  });

  it('given the same history as referrals write it now (the timer kept), when replayed, then it replays', async () => {
    expect(await replay(asWrittenNow(recorded()))).toBe('replays');
  });
});
