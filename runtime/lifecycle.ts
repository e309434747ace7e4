/**
 * What `npm start` runs, started in order and stopped in reverse, with a stop asked for (a signal) while it is still
 * starting coordinated with the start: the start checks for it after each step and gives up at the next one; the
 * stop waits for the start to settle, then stops everything that was started, each once, last started first.
 */
export interface Part {
  name: string;
  stop: () => Promise<void>;
  /** logged once it is stopped */
  stopped: string;
}

export class StartAborted extends Error {}

interface Log {
  info: (fields: object, message: string) => void;
  error: (fields: object, message: string) => void;
}

export interface Lifecycle {
  /** a part to stop from now on: registered as soon as it exists (a server as soon as it is spawned) */
  register: (part: Part) => void;
  /** between steps of the start: throws StartAborted once a stop was asked for */
  checkpoint: () => void;
  /** runs the start; rejects with its error (StartAborted when a stop cut it short) */
  start: (start: () => Promise<void>) => Promise<void>;
  /** stops what runs, once however often asked; resolves to the exit code: 1 when the start failed, else 0 */
  stop: (reason: string) => Promise<number>;
  /** whether a stop was asked for (a start that fails after it failed because of it) */
  stopRequested: () => boolean;
  /**
   * aborted once a stop is asked for: for a step of the start that waits long on its own (a Temporal not answering
   * yet, the workflow bundle's build), which would otherwise reach the next checkpoint only when it is done
   */
  signal: AbortSignal;
}

export function createLifecycle(log: Log): Lifecycle {
  const running: Part[] = [];
  let stopReason: string | undefined;
  let startup: Promise<void> = Promise.resolve();
  let failed = false;
  let stopping: Promise<number> | undefined;
  const stopAsked = new AbortController();

  const stopAll = async (): Promise<number> => {
    log.info({ reason: stopReason }, 'shutting down');
    await startup.catch(() => undefined);
    for (const { name, stop, stopped } of [...running].reverse()) {
      await stop().then(
        () => log.info({ part: name }, stopped),
        (error: unknown) => log.error({ err: error, part: name }, `error while stopping the ${name}`),
      );
    }
    log.info({}, 'stopped');
    return failed ? 1 : 0;
  };

  return {
    register: (part) => void running.push(part),
    checkpoint: () => {
      if (stopReason !== undefined) throw new StartAborted(`stopped while starting (${stopReason})`);
    },
    start: (start) => {
      startup = start().catch((error: unknown) => {
        // Recorded before anyone waiting for the start to settle goes on, so the exit code cannot miss it. A start
        // that fails once a stop was asked for failed of the stop: a server spawned just as Ctrl-C reached the
        // process group (before it left the group) dies of that same SIGINT.
        if (!(error instanceof StartAborted) && stopReason === undefined) failed = true;
        throw error;
      });
      return startup;
    },
    stop: (reason) => {
      stopReason ??= reason;
      stopAsked.abort(new StartAborted(`stopped while starting (${reason})`));
      stopping ??= stopAll();
      return stopping;
    },
    stopRequested: () => stopReason !== undefined,
    signal: stopAsked.signal,
  };
}
