import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Workflow code must replay identically, so it may import only the workflow SDK, pure helpers and types. The bundler
 * catches Node built-ins; this catches the rest (a database driver, a clock, an HTTP client) before review does.
 */
const WORKFLOWS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../workflows');
// ms and temporal-polyfill are pure: durations and calendar arithmetic with no clock and no I/O
const ALLOWED = new Set(['@temporalio/workflow', '@temporalio/common', 'ms', 'temporal-polyfill']);

const valueImports = (source: string): string[] =>
  [...source.matchAll(/^import\s+(?!type\s)([^;]*?)\s+from\s+'([^']+)'/gms)]
    // `import { type A, type B } from` brings in types only
    .filter(([, clause]) => !/^\{\s*(type\s+\w+\s*,?\s*)+\}$/.test(clause!.trim()))
    .map(([, , specifier]) => specifier!);

describe('workflow code', () => {
  it('given every file in workflows/, then each imports values only from the workflow SDK, pure helpers or its siblings', () => {
    const offenders = readdirSync(WORKFLOWS)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        valueImports(readFileSync(path.join(WORKFLOWS, file), 'utf8'))
          .filter((specifier) => !ALLOWED.has(specifier) && !/^\.\/[\w-]+$/.test(specifier))
          .map((specifier) => `${file} imports ${specifier}`),
      );
    expect(offenders).toEqual([]);
  });
});
