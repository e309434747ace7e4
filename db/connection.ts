import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema';

export type DB = Kysely<Database>;

const pools = new WeakMap<DB, pg.Pool>();

/**
 * Connections per process. The service runs the API (requests and the order deliveries after their 202) and the
 * worker's activities over one pool: 10 left queries waiting for a connection under load (scripts/bench).
 */
export const DEFAULT_POOL_SIZE = 20;

export function createDatabase(
  connectionString: string,
  options: {
    max?: number | undefined;
    /**
     * A connection the server ended while no statement ran on it: idle in the pool, or held by a transaction between
     * its statements. Told so it can be logged; the process goes on.
     */
    onIdleError?: (error: Error) => void;
  } = {},
): DB {
  const pool = new pg.Pool({ connectionString, max: options.max ?? DEFAULT_POOL_SIZE });
  const report = (error: Error) => options.onIdleError?.(error);
  // An idle connection dropped by the server (restart, failover, shutdown) must not crash the process;
  // the pool replaces it on the next query.
  pool.on('error', report);
  // The pool listens to its idle connections only. One checked out (a transaction waiting on Temporal, or between two
  // statements) with no query under way emits 'error' on the client itself when the server ends it (57P01 on a fast
  // shutdown, "Connection terminated unexpectedly" on a crash): unheard, that event ended the process. Heard, the
  // transaction's next statement fails, and the pool discards the connection when it is released.
  const checkedOut = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (client) => checkedOut.add(client));
  pool.on('release', (_error, client) => checkedOut.delete(client));
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      // an idle one is reported by the pool's 'error' above
      if (checkedOut.has(client)) report(error);
    });
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/** How busy the pool behind a database is: queries waiting for a connection mean the pool, not PostgreSQL, is short. */
export function poolUse(db: DB): { size: number; total: number; idle: number; waiting: number } | undefined {
  const pool = pools.get(db);
  return pool
    ? { size: pool.options.max, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }
    : undefined;
}

/** Node's socket errors for a server that is not there (yet), or that went away mid-conversation. */
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/**
 * Whether PostgreSQL refused a statement for what it says, so that asking again cannot help: bad data (SQLSTATE class
 * 22), a constraint (23), a statement or object that is wrong (42), a feature it lacks (0A), a protocol violation
 * (08P01, a bad bind), or its own internal error (XX). Not a server out of reach, a lack of connections or memory
 * (53), a cancelled statement (57014) or a serialization failure (40): those may pass.
 */
export function isStatementRefused(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (/^(?:22|23|42|0A|XX)[0-9A-Z]{3}$/.test(code) || code === '08P01')) return true;
  }
  return false;
}

/**
 * Whether an error says PostgreSQL cannot be reached right now, rather than that a statement is wrong: the server is
 * down, starting, shutting down or in recovery (SQLSTATE class 08 but 08P01, 57P01 to 57P03), or the connection
 * broke. Asking again later may succeed.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECTION_ERRNOS.has(code)) return true;
      // 08P01 (protocol violation) is in the class but is the statement's fault: a bad bind, too many parameters.
      if ((/^08[0-9A-Z]{3}$/.test(code) && code !== '08P01') || ['57P01', '57P02', '57P03'].includes(code)) return true;
    }
    if (
      /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
        current.message,
      )
    )
      return true;
    if (current instanceof AggregateError && current.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
  }
  return false;
}
