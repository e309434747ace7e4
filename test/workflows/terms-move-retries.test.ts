import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MoveReferralInput, MoveReferralOutcome } from '../../activities/term-moves';
import { termsMoveWorkflow, type TermsMoveInput } from '../../workflows/terms-move-batch';
import { quietLogger, startTimeSkippingServer, TEST_TERMS } from '../support/referral-scenario';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../runtime/workflow-bundle';

/**
 * How a move tries each referral's step (workflows/terms-move-batch.ts) when the referral cannot answer for a while: its
 * worker restarting, its workflow tasks retried, PostgreSQL away. Each such try fails at once, so the number of tries
 * says nothing of how long the referral was out of reach. On the time-skipping server, with the step's activity faked:
 * its tries are counted by when each was scheduled, in the server's time.
 */
let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  env = await startTimeSkippingServer();
  workflowBundle = await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quietLogger });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

/** Each try of a referral's step: how long after its first it was made, and whether it was answered. */
type Try = { referralId: string; afterMs: number };

/**
 * Runs a move of `referralIds` with a step that fails (as an unreachable referral does, at once) while `unreachable`
 * says so for that try, and answers `moved` once it does not.
 */
async function runMove(
  referralIds: string[],
  unreachable: (referralId: string, tryOf: { attempt: number; afterMs: number }) => boolean,
) {
  const tries: Try[] = [];
  const failures: Array<{ referralId: string; error: string }> = [];
  let finished = 0;
  const taskQueue = `terms-move-retries-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle,
    activities: {
      async moveReferralToTerms(input: MoveReferralInput): Promise<MoveReferralOutcome> {
        const info = Context.current().info;
        const afterMs = info.currentAttemptScheduledTimestampMs - info.scheduledTimestampMs;
        tries.push({ referralId: input.referralId, afterMs });
        if (unreachable(input.referralId, { attempt: info.attempt, afterMs }))
          throw new Error('Workflow Update failed: Workflow Task in failed state');
        return { outcome: 'moved', code: null };
      },
      async recordTermsMoveFailure(input: { moveId: string; referralId: string; error: string }) {
        failures.push({ referralId: input.referralId, error: input.error });
      },
      async finishTermsMove() {
        finished += 1;
      },
      async selectTermsMoveCandidates() {
        return { ids: [], after: null };
      },
    },
  });
  const input: TermsMoveInput = {
    moveId: randomUUID(),
    program: { id: 'program-1', version: 2, currency: 'INR', terms: TEST_TERMS },
    selection: { referralIds },
    actor: 'ops',
    reason: null,
  };
  const result = await worker.runUntil(
    env.client.workflow.execute(termsMoveWorkflow, {
      taskQueue,
      workflowId: `terms-move-${input.moveId}`,
      args: [input],
    }),
  );
  return { result, tries, failures, finished };
}

describe('a move whose referral cannot be reached for a while', () => {
  it('given a referral whose step fails its first 15 tries at once, when the move runs, then it keeps trying and the referral is moved, not given up as failed', async () => {
    const { result, tries, failures, finished } = await runMove(
      ['a', 'b'],
      (id, { attempt }) => id === 'b' && attempt <= 15,
    );
    expect(result).toEqual({ reached: 2 });
    expect(failures).toEqual([]);
    expect(tries.filter((t) => t.referralId === 'b')).toHaveLength(16);
    expect(finished).toBe(1);
  });

  it('given a referral out of reach for 100 s, when it can be reached again, then its step reaches it within 5 s', async () => {
    const { tries, failures } = await runMove(['c'], (_id, { afterMs }) => afterMs < 100_000);
    expect(failures).toEqual([]);
    const answered = tries.at(-1)!;
    expect(answered.afterMs).toBeGreaterThanOrEqual(100_000);
    expect(answered.afterMs).toBeLessThanOrEqual(105_000);
  });

  it('given a referral that stays out of reach, when the step has tried for 10 minutes, then it is kept as failed with the last error and the move goes on to done', async () => {
    const { result, tries, failures, finished } = await runMove(['d', 'e'], (id) => id === 'd');
    expect(result).toEqual({ reached: 2 });
    expect(failures).toEqual([
      { referralId: 'd', error: expect.stringContaining('Workflow Task in failed state') as unknown as string },
    ]);
    const last = tries.filter((t) => t.referralId === 'd').at(-1)!;
    expect(last.afterMs).toBeGreaterThan(9 * 60_000);
    expect(last.afterMs).toBeLessThanOrEqual(10 * 60_000);
    expect(finished).toBe(1);
  });
});
