import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildWorkflowBundle, PRELOADED_WORKFLOW_MODULES } from '../../runtime/workflow-bundle';

/**
 * Preloaded workflow modules are one instance for every workflow of the worker: a module there that kept state, or
 * that reached the workflow SDK (which answers for the workflow running now), would leak one referral into another.
 */
const PURE_LIBRARIES = new Set(['ms', 'temporal-polyfill']);

/** What a module loads: its imports and re-exports of values, and its imports for side effects, whatever the quotes. */
const importsOf = (file: string): string[] =>
  [
    ...readFileSync(file, 'utf8').matchAll(
      /^(?:import|export)\s+(?!type\s)(?:[^;'"]*?\s+from\s+)?['"]([^'"]+)['"]|\b(?:require|import)\(\s*['"]([^'"]+)['"]/gms,
    ),
  ].map(([, from, called]) => (from ?? called)!);

describe('the workflow modules preloaded into the shared context', () => {
  it('given each preloaded module, then it imports only pure libraries and other preloaded modules', () => {
    const preloaded = new Set(PRELOADED_WORKFLOW_MODULES);
    const offenders = PRELOADED_WORKFLOW_MODULES.flatMap((file) =>
      importsOf(file)
        .filter((from) =>
          from.startsWith('.')
            ? !preloaded.has(path.resolve(path.dirname(file), `${from}.ts`))
            : !PURE_LIBRARIES.has(from),
        )
        .map((from) => `${path.basename(file)} imports ${from}`),
    );
    expect(offenders).toEqual([]);
  });

  it('given each preloaded module, then it keeps no state at module level', () => {
    // a variable, or a collection the SDK's freeze would not stop from changing (a Map's entries are not properties)
    const state = /^(?:export\s+)?(?:(?:let|var)\s|const\s+\w+(?:\s*:[^=]+)?\s*=\s*new\s+(?:Weak)?(?:Map|Set)\b)/m;
    const offenders = PRELOADED_WORKFLOW_MODULES.filter((file) => state.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('given the bundle the worker builds in a process of its own, then its preload step loads every listed module', async () => {
    const { code } = await buildWorkflowBundle();
    const preload = /exports\.preloadModules = function preloadModules\(\) \{([^}]*)\}/.exec(code)?.[1] ?? '';
    // webpack drops a require whose result is unused from a package marked free of side effects (as temporal-polyfill
    // is), so the library itself is preloaded through the module that uses it
    const loaded = [...preload.matchAll(/"\.\/workflows\/([\w-]+)\.ts"\)/g)].map(([, name]) => name);
    expect(new Set(loaded)).toEqual(new Set(PRELOADED_WORKFLOW_MODULES.map((file) => path.basename(file, '.ts'))));
  }, 120_000);
});
