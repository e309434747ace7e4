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
  options: { max?: number | undefined; onIdleError?: (error: Error) => void } = {},
): DB {
  const pool = new pg.Pool({ connectionString, max: options.max ?? DEFAULT_POOL_SIZE });
  // An idle connection dropped by the server (restart, failover, shutdown) must not crash the process;
  // the pool replaces it on the next query.
  pool.on('error', (error) => options.onIdleError?.(error));
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
