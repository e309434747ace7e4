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
type History = ReturnType<typeof temporal.api.history.v1.History.decode>;

/**
 * A referral a signup started (update-with-start), recorded by the chaos run: the worker sent its first task on with
 * the registration's result, a local activity, in it, and the workflow went on from that result in the next task. A
 * replay takes the result within the first task. The change deciding whether the voucher is issued in the
 * registration's write was decided after that result: in the next task as recorded, in the first on replay, where its
 * marker found no change command, and the referral stopped for good. The change is now decided as the signup is
 * registered, before its local activity: the same history as referrals write it now (the change's marker in the first
 * task, under its new name) replays.
 */
const FIXTURE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures/signup-registration-continued-in-next-task.binpb',
);
const recorded = (): History => temporal.api.history.v1.History.decode(readFileSync(FIXTURE));
const CHANGE = 'referral-voucher-in-joined-writes';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const patchId = (e: HistoryEvent): string | undefined => {
  const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString()) as { id: string }).id : undefined;
};

/** The recorded history as the code writes it now: the change's marker and its search attribute in the first task. */
function asWrittenNow(history: History): History {
  const events = history.events!.map((e) => temporal.api.history.v1.HistoryEvent.create(e));
  const markerAt = events.findIndex((e) => patchId(e) === 'referral-registered-with-voucher');
  const [marker, changeVersion] = events.splice(markerAt, 2) as [HistoryEvent, HistoryEvent];
  const accepted = events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED);
  const firstTaskCompleted = events[accepted - 1]!.eventId ?? null;
  marker.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data = json({
    id: CHANGE,
    deprecated: false,
  });
  marker.markerRecordedEventAttributes!.workflowTaskCompletedEventId = firstTaskCompleted;
  changeVersion.upsertWorkflowSearchAttributesEventAttributes!.searchAttributes!.indexedFields!.TemporalChangeVersion!.data =
    json(['referral-signup-timer-kept', CHANGE]);
  changeVersion.upsertWorkflowSearchAttributesEventAttributes!.workflowTaskCompletedEventId = firstTaskCompleted;
  events.splice(accepted + 1, 0, marker, changeVersion);
  return renumberedHistory(events);
}

let workflowBundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  workflowBundle = await bundleForReplay();
}, 120_000);

const replay = (history: History) =>
  Worker.runReplayHistory({ workflowBundle }, history, 'signup-registration-continued-in-next-task').then(
    () => 'replays',
    (error: Error) => error.message,
  );

describe('a signup-started referral whose registration result travelled with its first task', () => {
  it('given the history as recorded (the change decided after the registration, in the next task), when replayed, then it is non-deterministic', async () => {
    expect(await replay(recorded())).toMatch(/Nondeterminism error/);
  });

  it('given the same history as referrals write it now (the change decided in the first task), when replayed, then it replays', async () => {
    expect(await replay(asWrittenNow(recorded()))).toBe('replays');
  });
});
