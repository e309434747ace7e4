import type { BundleOptions } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKFLOWS_DIR = path.join(ROOT, 'workflows');
const BUNDLE_SCRIPT = path.join(ROOT, 'scripts/bundle-workflows.ts');
const BUNDLE_TIMEOUT_MS = 5 * 60_000;

/**
 * Workflow modules loaded once into the worker's shared V8 context, where every workflow reads the same instance,
 * instead of once for each workflow the worker creates (a new referral, a point lot, and every replay of one that left
 * the cache). Most of it is `temporal-polyfill`, which `point-validity` brings in: 2 ms of CPU for each workflow
 * created, and 0.2 MB of each cached referral (a cached referral held 0.59 MB with its own copy, 0.37 MB without).
 * The library is preloaded through the module that uses it: a preload of `temporal-polyfill` itself is dropped by
 * webpack, which leaves out a require whose result is unused from a package that declares no side effects.
 *
 * Only pure modules belong here: no import of the workflow SDK, no state at module level. The SDK freezes what they
 * export, and a workflow that kept something in one would leak it to the next (test/workflows/preloaded-modules.test.ts
 * holds the list to that).
 */
export const PRELOADED_WORKFLOW_MODULES: readonly string[] = [
  'durations',
  'lot-shared',
  'order-book',
  'point-validity',
  'shared',
  'terms-move',
].map((module) => path.join(WORKFLOWS_DIR, `${module}.ts`));

/** How the workflows are bundled: by scripts/bundle-workflows.ts, which the worker runs, and by the tests. */
export const WORKFLOW_BUNDLE_OPTIONS = {
  workflowsPath: path.join(WORKFLOWS_DIR, 'index.ts'),
  preloadModules: [...PRELOADED_WORKFLOW_MODULES],
} as const satisfies Pick<BundleOptions, 'workflowsPath' | 'preloadModules'>;

/**
 * The workflow bundle, built by webpack in a process of its own. Built inside the worker's process, webpack left about
 * 130 MB more resident there for as long as it ran (the heap itself was back to 50 MB: the memory is not returned to
 * the system). A worker given a prebuilt bundle (WORKFLOW_BUNDLE_PATH) needs neither.
 */
export async function buildWorkflowBundle(): Promise<{ code: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'referral-workflows-'));
  const file = path.join(dir, 'workflow-bundle.js');
  try {
    await promisify(execFile)(process.execPath, ['--import', 'tsx', BUNDLE_SCRIPT, file], {
      cwd: ROOT,
      timeout: BUNDLE_TIMEOUT_MS,
      maxBuffer: 16 * 2 ** 20,
    }).catch((error: unknown) => {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`building the workflow bundle failed${stderr ? `: ${stderr.slice(-2_000)}` : ''}`, {
        cause: error,
      });
    });
    return { code: await readFile(file, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
