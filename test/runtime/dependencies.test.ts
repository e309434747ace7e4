import { ServiceError } from '@temporalio/client';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, isDatabaseUnavailable, type DB } from '../../db/connection';
import { isTemporalTransient, keepTrying, retrying, Stopped, waitForDatabase } from '../../runtime/dependencies';
import { freePort } from '../../runtime/free-port';
import { createTestDatabase } from '../support/database';
import { eventually } from '../support/stack';

/** How the processes meet PostgreSQL and Temporal that are down: what is waited for, what is not, what never kills. */
const logger = pino({ level: 'silent' });
const fast = { firstMs: 5, maxMs: 20 };

let database: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });

describe('a pooled connection ended by the server', () => {
  it('given a transaction between its statements, when the server terminates its connection, then the loss is reported, the transaction fails and the pool serves the next query', async () => {
    const lost: Error[] = [];
    const db: DB = createDatabase(database.url, { max: 2, onIdleError: (error) => lost.push(error) });
    try {
      const outcome = await db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // 57P01, as a fast shutdown of the postmaster sends it, while this transaction waits on something else
          await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(database.db);
          await eventually(
            async () => lost.length,
            (n) => n > 0,
            10_000,
          );
          await sql`select 1`.execute(trx);
        })
        .then(
          () => 'committed',
          (error: unknown) => `failed: ${(error as Error).message}`,
        );
      expect(outcome).toMatch(/^failed/);
      expect(lost[0]).toMatchObject({ code: '57P01' });
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });
});

describe('whether waiting may help', () => {
  it('given errors of a PostgreSQL that is down, starting or gone mid-conversation, then they are outages; a wrong statement is not', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isDatabaseUnavailable(refused)).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('starting up'), { code: '57P03' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('no connection'), { code: '08006' }))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: refused }))).toBe(true);
    expect(isDatabaseUnavailable(new AggregateError([refused]))).toBe(true);

    expect(isDatabaseUnavailable(Object.assign(new Error('duplicate key'), { code: '23505' }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('no such table'), { code: '42P01' }))).toBe(false);
    const protocolViolation = Object.assign(
      new Error('bind message supplies 2 parameters, but prepared statement "" requires 1'),
      {
        code: '08P01',
      },
    );
    expect(isDatabaseUnavailable(protocolViolation)).toBe(false);
    expect(isDatabaseUnavailable(new Error('the database lacks migrations 0042'))).toBe(false);
  });

  it('given Temporal down, restarting or slow, then it is waited for; refusals and settings at fault are not', () => {
    expect(
      isTemporalTransient(
        new ServiceError('Failed to create schedule', {
          cause: grpcError(14, 'Not enough hosts to serve the request'),
        }),
      ),
    ).toBe(true);
    expect(isTemporalTransient(grpcError(4, 'deadline exceeded'))).toBe(true);
    expect(isTemporalTransient(grpcError(1, 'Call cancelled'))).toBe(true);
    expect(isTemporalTransient(grpcError(14, 'No connection established'))).toBe(true);
    expect(isTemporalTransient(new Error('Failed to connect before the deadline'))).toBe(true);
    expect(isTemporalTransient(Object.assign(new Error('tcp connect error: Connection refused (os error 111)')))).toBe(
      true,
    );

    // a mistyped TEMPORAL_NAMESPACE: the compose file starts the services once the namespace job made it
    expect(isTemporalTransient(grpcError(5, 'Namespace default is not found.'))).toBe(false);
    const transportError = Object.assign(new Error('Namespace no-such-namespace is not found.'), {
      name: 'TransportError',
    });
    expect(isTemporalTransient(transportError)).toBe(false);
    // a corrupt WORKFLOW_BUNDLE_PATH
    expect(isTemporalTransient(new Error("Can't extract inlined source map from the provided Workflow Bundle"))).toBe(
      false,
    );
    expect(isTemporalTransient(grpcError(3, 'invalid argument'))).toBe(false);

    expect(isTemporalTransient(grpcError(16, 'unauthenticated'))).toBe(false);
    expect(isTemporalTransient(grpcError(7, 'Schedules are disabled'))).toBe(false);
    expect(isTemporalTransient(new TypeError('bad address'))).toBe(false);
  });
});

describe('retrying', () => {
  it('given an attempt that fails twice with an outage, then it is tried until it succeeds', async () => {
    let tries = 0;
    const value = await retrying(
      'a step',
      async () => {
        tries += 1;
        if (tries < 3) throw new Error('down');
        return 'up';
      },
      { logger, isTransient: () => true, backoff: fast },
    );
    expect({ value, tries }).toEqual({ value: 'up', tries: 3 });
  });

  it('given a failure waiting cannot mend, then it is thrown at once', async () => {
    let tries = 0;
    const attempt = async () => {
      tries += 1;
      throw new TypeError('misconfigured');
    };
    await expect(retrying('a step', attempt, { logger, isTransient: () => false, backoff: fast })).rejects.toThrow(
      'misconfigured',
    );
    expect(tries).toBe(1);
  });

  it('given a caller that must not wait for ever, when the outage outlasts its bound, then the last failure is thrown', async () => {
    let tries = 0;
    const attempt = async () => {
      tries += 1;
      throw new Error(`down ${tries}`);
    };
    const started = Date.now();
    await expect(
      retrying('a step', attempt, { logger, isTransient: () => true, backoff: fast, giveUpAfterMs: 100 }),
    ).rejects.toThrow(`down`);
    expect(tries).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('given PostgreSQL nowhere to be found, when the start waits for it, then it waits until stopped', async () => {
    const nowhere = createDatabase(`postgres://postgres:postgres@127.0.0.1:${await freePort()}/referrals`, { max: 1 });
    try {
      const controller = new AbortController();
      const waiting = waitForDatabase(nowhere, { logger, signal: controller.signal });
      const settled = await Promise.race([
        waiting.then(
          () => 'resolved',
          () => 'rejected',
        ),
        new Promise((resolve) => setTimeout(() => resolve('still waiting'), 1_500)),
      ]);
      expect(settled).toBe('still waiting');
      controller.abort();
      await expect(waiting).rejects.toBeInstanceOf(Stopped);
    } finally {
      await nowhere.destroy();
    }
  });

  it('given a reachable database, when the start waits for it, then it goes on', async () => {
    await expect(waitForDatabase(database.db, { logger })).resolves.toBeUndefined();
  });

  it('given a background step that fails, then it is tried again until it succeeds, and stop ends a step that never does', async () => {
    let tries = 0;
    const succeeding = keepTrying(
      'a step',
      async () => {
        tries += 1;
        if (tries < 4) throw new Error('Not enough hosts to serve the request');
      },
      { logger, backoff: fast },
    );
    await succeeding.done;
    expect(tries).toBe(4);

    let failing = 0;
    const never = keepTrying(
      'another step',
      async () => {
        failing += 1;
        throw new Error('down');
      },
      { logger, backoff: fast },
    );
    await eventually(
      async () => failing,
      (n) => n >= 2,
    );
    await never.stop();
    const after = failing;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(failing).toBe(after);
  });
});
