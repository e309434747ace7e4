import type { BundleOptions } from '@temporalio/worker';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKFLOWS_DIR = path.join(ROOT, 'workflows');
const BUNDLE_SCRIPT = path.join(ROOT, 'scripts/bundle-workflows.ts');
const BUNDLE_TIMEOUT_MS = 5 * 60_000;
// the bundle is about 3 MB, its inline source map included
const BUNDLE_MAX_BYTES = 64 * 2 ** 20;

/**
 * Workflow modules loaded once into the worker's shared V8 context, where every workflow reads the same instance,
 * instead of once for each workflow the worker creates (a new referral, a point lot, and every replay of one that left
 * the cache). Most of it is `temporal-polyfill`, which `point-validity` brings in: 2 ms of CPU for each workflow
 * created, and its objects held by every cached referral (with 600 open and all cached, the service grew 0.59 MB per
 * referral with a copy in each, 0.37 MB without).
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
 * The workflow bundle, built by webpack in a process of its own (scripts/bundle-workflows.ts, to standard output).
 * Built inside the service's process, webpack left it 115 MB more resident at the start (387 MB ready against 272)
 * and for as long as it ran: the heap was back to 50 MB, but the memory is not returned to the system. A worker given
 * a prebuilt bundle (WORKFLOW_BUNDLE_PATH) needs neither.
 */
export async function buildWorkflowBundle(
  options: { signal?: AbortSignal | undefined } = {},
): Promise<{ code: string }> {
  const build = promisify(execFile)(process.execPath, ['--import', 'tsx', BUNDLE_SCRIPT, '-'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: BUNDLE_TIMEOUT_MS,
    maxBuffer: BUNDLE_MAX_BYTES,
    // a stop asked for while starting ends the build instead of waiting for it
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // a process that exits while it builds (stopped while starting) takes the build with it
  const stopBuild = () => build.child.kill();
  process.once('exit', stopBuild);
  try {
    const { stdout } = await build;
    return { code: stdout };
  } catch (error) {
    // stopped, not failed: the caller asked for it
    if (options.signal?.aborted) throw error;
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`building the workflow bundle failed${stderr ? `: ${stderr.slice(-4_000)}` : ''}`, {
      cause: error,
    });
  } finally {
    process.off('exit', stopBuild);
  }
}
