import { rm } from 'node:fs/promises';

/**
 * What a benchmark run started, stopped once, last started first, and its throwaway folder removed; on SIGINT or
 * SIGTERM the same, then the exit (130 or 143), after `onSignal` (which says what the run keeps).
 */
export function runCleanup(options: {
  dir: string;
  log: (line: string) => void;
  onSignal?: (signal: NodeJS.Signals) => void;
}): { cleanups: Array<() => Promise<void>>; cleanUp: () => Promise<void> } {
  const cleanups: Array<() => Promise<void>> = [];
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      while (cleanups.length > 0) {
        await cleanups.pop()!().catch((error: unknown) => options.log(`cleanup: ${String(error)}`));
      }
      await rm(options.dir, { recursive: true, force: true });
    })());
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.on(signal, () => {
      options.onSignal?.(signal);
      options.log(`stopped by ${signal}; stopping what it started`);
      void cleanUp().finally(() => process.exit(code));
    });
  }
  return { cleanups, cleanUp };
}
