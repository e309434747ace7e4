import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { ConfigError, loadConfig, requireWorkflowBundle } from '../../runtime/config';
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

  it('given a stop while the bundle builds, then the build ends with the stop instead of finishing', async () => {
    const stop = new AbortController();
    const build = buildWorkflowBundle({ signal: stop.signal });
    // webpack needs seconds at the least: the stop comes while it runs
    setTimeout(() => stop.abort(), 200);
    await expect(build).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('given WORKFLOW_BUNDLE_PATH naming no file, or a folder, then the worker refuses it naming the variable; other processes do not check it', () => {
    for (const wrong of [path.join(dir, 'missing.js'), dir]) {
      const config = loadConfig({ WORKFLOW_BUNDLE_PATH: wrong });
      expect(() => requireWorkflowBundle(config)).toThrow(ConfigError);
      expect(() => requireWorkflowBundle(config)).toThrow(/WORKFLOW_BUNDLE_PATH: no such file/);
    }
    expect(requireWorkflowBundle(loadConfig({}))).toBeUndefined();
  });
});
