import { Client, Connection } from '@temporalio/client';
import { afterEach, describe, expect, it } from 'vitest';
import { onFreePorts } from '../../runtime/free-port';
import { startDevServer, type DevServer } from '../../runtime/temporal-dev-server';
import { workflowResultWithin } from '../../scripts/chaos/verify';

/**
 * The chaos run reads each referral workflow's result with a limit, then closes its Temporal connection. A workflow
 * on a task queue no worker polls never ends, so its result is never there.
 */
let devServer: DevServer | undefined;
let client: Client | undefined;
afterEach(async () => {
  await client?.connection.close();
  await devServer?.stop();
  client = devServer = undefined;
});

async function unfinishedWorkflow(): Promise<string> {
  devServer = await onFreePorts(3, ([port, httpPort, metricsPort]) =>
    startDevServer({ port: port!, httpPort: httpPort!, metricsPort: metricsPort! }),
  );
  client = new Client({ connection: await Connection.connect({ address: devServer.address }) });
  const handle = await client.workflow.start('neverPolled', {
    taskQueue: 'no-worker',
    workflowId: 'unfinished',
    args: [],
  });
  return handle.workflowId;
}

describe('reading a workflow result with a limit', () => {
  it('given a workflow that does not end, when the limit passes, then no result within the limit', async () => {
    const workflowId = await unfinishedWorkflow();
    const started = Date.now();
    expect(await workflowResultWithin(client!, workflowId, 1_000)).toEqual({
      failed: expect.stringMatching(/^no result within 1 s/),
    });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('given Temporal gone while the result is awaited, when the limit passes and the connection is closed, then nothing of the call is left to retry on it', async () => {
    const workflowId = await unfinishedWorkflow();
    await devServer!.stop();
    devServer = undefined;
    const uncaught: unknown[] = [];
    const collect = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', collect);
    try {
      const started = Date.now();
      expect(await workflowResultWithin(client!, workflowId, 1_000)).toEqual({ failed: expect.any(String) });
      // Retried alone, the call ran 19 s here: ten tries backing off up to 5 s. A limit is not that.
      expect(Date.now() - started).toBeLessThan(10_000);
      await client!.connection.close();
      client = undefined;
      // long enough for any retry the client still had scheduled to fire
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', collect);
    }
  });
});
