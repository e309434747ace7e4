import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { ConfigError, loadConfig, requireWorkflowBundle } from '../../runtime/config';
import { canTellProcesses, isRunning, processCommandLine } from '../../runtime/process-table';
import { createReferralWorker } from '../../runtime/worker';
import { buildWorkflowBundle } from '../../runtime/workflow-bundle';
import { startTimeSkippingServer } from '../support/referral-scenario';

/**
 * The image builds the workflow bundle once (scripts/bundle-workflows.ts) and its worker loads the file named by
 * WORKFLOW_BUNDLE_PATH instead of running webpack at every start.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
let env: TestWorkflowEnvironment | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-bundle-'));
});
afterAll(async () => {
  await env?.teardown();
  await rm(dir, { recursive: true, force: true });
});

/** This process's children building the bundle (scripts/bundle-workflows.ts), from /proc. */
function bundleBuilders(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === process.pid && processCommandLine(pid)?.some((arg) => arg.endsWith('bundle-workflows.ts'));
      } catch {
        return false;
      }
    });
}

/** The first value `read` gives within `ms`, polled every 50 ms; throws when none came. */
async function until<T>(read: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('prebuilt workflow bundle', () => {
  it('given the bundle script, when it writes the bundle, then a worker named WORKFLOW_BUNDLE_PATH loads it and polls', async () => {
    const codePath = path.join(dir, 'image/workflow-bundle.js');
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/bundle-workflows.ts'], {
      cwd: ROOT,
      env: { ...process.env, WORKFLOW_BUNDLE_PATH: codePath },
    });
    expect(await readFile(codePath, 'utf8')).toContain('referralWorkflow');

    const config = loadConfig({ WORKFLOW_BUNDLE_PATH: codePath });
    expect(config.workflowBundlePath).toBe(codePath);
    env = await startTimeSkippingServer();
    // The activities are never called: no workflow runs, the worker only has to take the bundle and poll.
    const worker = await createReferralWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      db: {} as DB,
      taskQueue: 'bundle-check',
      workflowBundle: { codePath: requireWorkflowBundle(config)! },
    });
    await worker.runUntil(new Promise((resolve) => setTimeout(resolve, 500)));
    expect(worker.getState()).toBe('STOPPED');
  }, 120_000);

  // the build's process is found in /proc
  it.skipIf(!canTellProcesses())(
    'given a stop while the bundle builds, then the build ends with the stop, and its process with it',
    async () => {
      const stop = new AbortController();
      const build = buildWorkflowBundle({ signal: stop.signal });
      build.catch(() => undefined);
      const builder = await until(() => bundleBuilders()[0], 30_000);
      stop.abort();
      await expect(build).rejects.toMatchObject({ name: 'AbortError' });
      // a build left running would go on for seconds: stopped, it is gone at once
      expect(await until(() => (isRunning(builder) ? undefined : true), 5_000)).toBe(true);
    },
    60_000,
  );

  it('given WORKFLOW_BUNDLE_PATH naming no file, or a folder, then the worker refuses it naming the variable; other processes do not check it', () => {
    for (const wrong of [path.join(dir, 'missing.js'), dir]) {
      const config = loadConfig({ WORKFLOW_BUNDLE_PATH: wrong });
      expect(() => requireWorkflowBundle(config)).toThrow(ConfigError);
      expect(() => requireWorkflowBundle(config)).toThrow(/WORKFLOW_BUNDLE_PATH: no such file/);
    }
    expect(requireWorkflowBundle(loadConfig({}))).toBeUndefined();
  });
});
