import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleForReplay } from '../support/replay';

const { temporal } = proto;

/**
 * Referrals (`referralLifecycle`, v13 code) that lost their qualification at the hold's deadline, past the window:
 * the hold's inbox read (a local activity) brought the cancel, and the late loss's change
 * (`referral-late-loss-counts-window-orders`) was asked after the read's result, its marker behind the read's in the
 * same task; in the second, the read also brought an order dated after the window, shown as late. The code now asks
 * that change before the read, for referrals begun before the change was in force from the first task: their
 * histories, recorded either way, must replay.
 */
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const recorded = (name: string) =>
  temporal.api.history.v1.History.decode(readFileSync(path.join(FIXTURES, `${name}.binpb`)));

let workflowBundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  workflowBundle = await bundleForReplay();
}, 120_000);

describe('a late loss recorded with its change asked after the hold’s read, in the same task', () => {
  it.each(['late-loss-decided-after-hold-read', 'late-loss-decided-after-hold-read-with-late-order'])(
    'given %s as recorded, when replayed against the current code, then it replays',
    async (name) => {
      const replayed = await Worker.runReplayHistory({ workflowBundle }, recorded(name), name).then(
        () => 'replays',
        (error: Error) => error.message,
      );
      expect(replayed).toBe('replays');
    },
  );
});
