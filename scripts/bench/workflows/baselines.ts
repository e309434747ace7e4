/**
 * The benchmark's baselines: the least a workflow can do for each thing the product does, run on the same servers,
 * so every product figure can be read against what Temporal itself costs here. Bundled for the benchmark's own
 * worker on its own task queue; nothing of the product is imported.
 */
import {
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';

export interface BaselineActivities {
  /** one row into the baseline's own table, keyed so a retry writes nothing twice */
  insertRow(table: 'update_rows' | 'timer_rows', key: string): Promise<void>;
}

export const bumpSignal = defineSignal('bump');
export const countQuery = defineQuery<{ count: number; firstAt: number | null; lastAt: number | null }>('count');
export const recordUpdate = defineUpdate<string, [string]>('record');
export const finishSignal = defineSignal('finish');

/** Long enough for any run; a baseline left on a server the benchmark does not own ends by itself. */
const LIFETIME = '1 hour';

/** Counts signals; the query answers how many and the workflow time of the first and last (when each was processed). */
export async function signalCounter(): Promise<void> {
  let count = 0;
  let firstAt: number | null = null;
  let lastAt: number | null = null;
  let finished = false;
  setHandler(bumpSignal, () => {
    count += 1;
    lastAt = Date.now();
    firstAt ??= lastAt;
  });
  setHandler(countQuery, () => ({ count, firstAt, lastAt }));
  setHandler(finishSignal, () => {
    finished = true;
  });
  await condition(() => finished, LIFETIME);
}

const { insertRow: insertRowLocally } = proxyLocalActivities<BaselineActivities>({
  startToCloseTimeout: '30 seconds',
});

/** An update whose handler writes one row through a local activity: what a signup's update-with-start does, at least. */
export async function updateRecorder(): Promise<void> {
  let finished = false;
  setHandler(recordUpdate, async (key: string) => {
    await insertRowLocally('update_rows', key);
    return key;
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  await condition(() => finished, LIFETIME);
}

const { insertRow } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '30 seconds' });

/** Sleeps until an instant shared by every such workflow, then writes one row through a regular activity. */
export async function timerWriter(key: string, fireAtMs: number): Promise<void> {
  await sleep(Math.max(1, fireAtMs - Date.now()));
  await insertRow('timer_rows', key);
}
