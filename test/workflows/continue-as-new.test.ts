import { describe, expect, it } from 'vitest';
import { cancelUpdate, orderSignal, registerUpdate } from '../../workflows/messages';
import { useReferralTestEnvironment, waitForState } from '../support/referral-scenario';

// The real dev server: the time-skipping test server does not continue a workflow as new atomically.
const referrals = useReferralTestEnvironment({ server: 'dev' });
const { scenario, signup, order } = referrals;

describe('referral workflow, history bounded by continue-as-new', () => {
  it('given a history already past its limit, when a signup and then a cancel arrive, then both are applied before the referral continues as new', async () => {
    await scenario({ historyEventLimit: 12 }, async ({ handle }) => {
      const registered = await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      expect(registered.status).toBe('registered');
      await handle.signal(orderSignal, await order('small', 'completed', 1_000));
      const cancelled = await handle.executeUpdate(cancelUpdate, { args: [{ actor: 'ops' }] });
      expect(cancelled.status).toBe('cancelled');
      expect((await handle.result()).status).toBe('cancelled');
    });
  });

  it('given a long stream of order events, when the history grows past its limit, then the referral continues as new with its state', async () => {
    await scenario({ historyEventLimit: 30, terms: { minOrders: 1, minSpend: 1_000_000 } }, async ({ handle }) => {
      const firstRunId = (await handle.describe()).runId;
      await handle.executeUpdate(registerUpdate, { args: [await signup()] });
      for (let i = 0; i < 40; i++) await handle.signal(orderSignal, await order(`o-${i}`, 'completed', 10_000));
      // 40 signal events alone pass the limit of 30, however the server batches them into workflow tasks.
      const latest = referrals.env.client.workflow.getHandle(handle.workflowId);
      const deadline = Date.now() + 20_000;
      while ((await latest.describe()).runId === firstRunId && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect((await latest.describe()).runId).not.toBe(firstRunId);
      const state = await waitForState(handle, (s) => s.progress.countedOrders === 40);
      expect(state.progress).toMatchObject({ countedOrders: 40, countedSpend: 400_000 });
      expect(state.status).toBe('registered');
    });
  });
});
