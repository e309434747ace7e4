import { Connection, isGrpcServiceError } from '@temporalio/client';
import { isDatabaseUnavailable, type DB } from '../db/connection';
import { requireMigrated } from '../db/migrate';
import type { Logger } from './logger';

/**
 * Waiting for PostgreSQL and Temporal instead of exiting: a process started while one of them restarts (after a
 * crash of the machine, a deploy of the database, a failover) serves as soon as it is back, and a supervisor's
 * restart loop is not what brings it up. What cannot get better by waiting (a schema that lags the code, a namespace
 * that does not exist or the credentials may not use, a workflow bundle that cannot be read, a setting at fault) still
 * ends the start at once.
 */

/** Between tries: doubling from the first pause, capped, so a long outage is polled without flooding the log. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

export const STARTUP_BACKOFF: Backoff = { firstMs: 250, maxMs: 5_000 };

/** For a step nothing waits on (the inbox's retention schedule): tried again for as long as the process runs. */
export const BACKGROUND_BACKOFF: Backoff = { firstMs: 1_000, maxMs: 30_000 };

/** What a wait ends with when its signal aborts it: the process is stopping, not failing. */
export class Stopped extends Error {
  constructor(what: string) {
    super(`${what}: stopped`);
  }
}

const pause = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Runs `attempt` until it succeeds, pausing after each failure `isTransient` accepts; any other failure is thrown.
 * Each failure is logged (a warning: the process is not serving what needs it), and so is the success after them.
 */
export async function retrying<T>(
  what: string,
  attempt: () => Promise<T>,
  options: {
    logger: Logger;
    isTransient: (error: unknown) => boolean;
    signal?: AbortSignal | undefined;
    backoff?: Backoff;
    /** for a caller that must not wait for ever: the last failure is thrown once this much time has gone by */
    giveUpAfterMs?: number | undefined;
  },
): Promise<T> {
  const { firstMs, maxMs } = options.backoff ?? STARTUP_BACKOFF;
  const since = Date.now();
  for (let failures = 0; ; failures += 1) {
    if (options.signal?.aborted) throw new Stopped(what);
    try {
      const value = await attempt();
      if (failures > 0) options.logger.info({ what, failures, ms: Date.now() - since }, `${what}: done after failures`);
      return value;
    } catch (error) {
      if (options.signal?.aborted) throw new Stopped(what);
      if (!options.isTransient(error)) throw error;
      const delay = Math.min(maxMs, firstMs * 2 ** Math.min(failures, 20));
      if (options.giveUpAfterMs !== undefined && Date.now() + delay - since > options.giveUpAfterMs) throw error;
      options.logger.warn(
        { what, failures: failures + 1, retryInMs: delay, reason: describe(error) },
        `${what}: failed, trying again`,
      );
      await pause(delay, options.signal);
    }
  }
}

/** The schema check once PostgreSQL answers: a database that is down is waited for, one that lags the code is not. */
export const waitForDatabase = (db: DB, options: { logger: Logger; signal?: AbortSignal | undefined }) =>
  retrying('reaching PostgreSQL', () => requireMigrated(db), { ...options, isTransient: isDatabaseUnavailable });

/**
 * gRPC statuses that tell of a Temporal down, restarting or slow: UNAVAILABLE (its frontend gone, or "Not enough hosts
 * to serve the request" while its services join the ring after a restart on PostgreSQL), DEADLINE_EXCEEDED, CANCELLED
 * (the server resetting a call at its deadline) and RESOURCE_EXHAUSTED (its rate limits). Every other status (a
 * namespace NOT_FOUND, refused credentials, a bad argument) is an answer that asking again does not change.
 */
const TRANSIENT_GRPC_CODES = new Set([
  1, // CANCELLED
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  14, // UNAVAILABLE
]);

/**
 * The worker's native connection reports a connection that fails without a gRPC status, as a plain error (or a
 * TransportError) whose message alone tells what happened: these are the ones a restarting server gives.
 */
const CONNECTION_FAILURE =
  /failed to connect|connection refused|econnrefused|econnreset|connection reset|tcp connect error|broken pipe|connection closed|timed out|deadline|not enough hosts|unavailable|channel has been shut down|transport error/i;
const REFUSAL = /not found|permission|unauthenticated|invalid/i;

/**
 * Whether Temporal may answer if asked again: it is down, restarting or slow. Anything else ends the start at once
 * with its message: a namespace that does not exist (a mistyped TEMPORAL_NAMESPACE; the compose file starts the
 * services after the namespace job), a workflow bundle that cannot be read, a programming error.
 */
export function isTemporalTransient(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (isGrpcServiceError(current)) return TRANSIENT_GRPC_CODES.has(current.code);
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16 && 'details' in current)
      return TRANSIENT_GRPC_CODES.has(code);
  }
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (REFUSAL.test(current.message)) return false;
    if (CONNECTION_FAILURE.test(current.message)) return true;
  }
  return false;
}

/**
 * A client connection to Temporal once its frontend answers for the namespace (describeNamespace reads it from
 * Temporal's persistence, so a server up before its database is not taken for ready).
 */
export async function connectTemporal(options: {
  address: string;
  namespace: string;
  logger: Logger;
  signal?: AbortSignal | undefined;
  giveUpAfterMs?: number | undefined;
}): Promise<Connection> {
  return retrying(
    'reaching Temporal',
    async () => {
      const connection = await Connection.connect({ address: options.address });
      try {
        await withinTry(connection, () =>
          connection.workflowService.describeNamespace({ namespace: options.namespace }),
        );
        return connection;
      } catch (error) {
        await connection.close().catch(() => undefined);
        throw error;
      }
    },
    {
      logger: options.logger,
      signal: options.signal,
      giveUpAfterMs: options.giveUpAfterMs,
      isTransient: isTemporalTransient,
    },
  );
}

/**
 * A call to Temporal given a deadline, so a server that takes the connection but does not answer (its persistence
 * stuck) fails the try, which is then logged and made again, instead of holding the start, or a stop, for ever.
 */
export const TEMPORAL_TRY_MS = 15_000;
export const withinTry = <T>(connection: Connection, call: () => Promise<T>): Promise<T> =>
  connection.withDeadline(Date.now() + TEMPORAL_TRY_MS, call);

export interface BackgroundTask {
  /** resolves once the task succeeded, or gave up because it was stopped */
  done: Promise<void>;
  /** stops trying again; resolves once no try is under way */
  stop: () => Promise<void>;
}

/**
 * A step the process can serve without, done beside it: tried until it succeeds, each failure logged, none of them
 * ending the process. It was a step of the start, and "Not enough hosts to serve the request" from a Temporal still
 * joining its hosts after a restart then exited the worker.
 */
export function keepTrying(
  what: string,
  attempt: () => Promise<void>,
  options: { logger: Logger; backoff?: Backoff },
): BackgroundTask {
  const controller = new AbortController();
  const done = retrying(what, attempt, {
    logger: options.logger,
    signal: controller.signal,
    backoff: options.backoff ?? BACKGROUND_BACKOFF,
    isTransient: () => true,
  }).then(
    () => undefined,
    (error: unknown) => {
      if (!(error instanceof Stopped)) options.logger.error({ err: error, what }, `${what}: gave up`);
    },
  );
  return {
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}
