import net from 'node:net';
import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { createDatabase, type DB } from '../../db/connection';
import { TASK_QUEUE } from '../../workflows/shared';
import { untouchableTemporal } from '../support/app';
import { createTestDatabase } from '../support/database';
import { API_KEYS, httpClient, KEYS } from '../support/http';

/**
 * PostgreSQL going away while the API serves. The app's pool reaches the test database through a TCP relay the test
 * can take down: refusing connections (the postmaster stopped) or taking each and ending it at once (a server shutting
 * down). The test database itself stays up for the other test files. Reading a customer's points needs the database
 * only, so Temporal must not be touched.
 */
let drop: () => Promise<void>;
let direct: DB;
let relayed: DB;
let relay: Relay;
const logs: Record<string, unknown>[] = [];
let api: ReturnType<typeof httpClient>;

interface Relay {
  port: number;
  /** 'up' relays to PostgreSQL; 'refusing' has no listener on the port; 'ending' takes each connection and ends it. */
  set(mode: 'up' | 'refusing' | 'ending'): Promise<void>;
  close(): Promise<void>;
}

async function startRelay(target: { host: string; port: number }): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  let mode: 'up' | 'ending' = 'up';
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === 'ending') return void client.destroy();
    const upstream = net.connect(target);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stop = async () => {
    const closed = server.listening ? new Promise((resolve) => server.close(resolve)) : undefined;
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async set(next) {
      // Every connection the pool holds breaks, as when the server goes away.
      await stop();
      if (next === 'refusing') return;
      mode = next;
      await listen(port);
    },
    close: stop,
  };
}

beforeAll(async () => {
  let url: string;
  ({ db: direct, url, drop } = await createTestDatabase());
  const target = new URL(url);
  relay = await startRelay({ host: target.hostname, port: Number(target.port) });
  target.hostname = '127.0.0.1';
  target.port = String(relay.port);
  relayed = createDatabase(target.href, { max: 2 });
  const app = createApp({
    db: relayed,
    temporal: untouchableTemporal(),
    clock: () => new Date(),
    apiKeys: API_KEYS,
    logger: pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          logs.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    ),
    taskQueue: TASK_QUEUE,
  });
  api = httpClient(async (path, init) => app.request(path, init));
});
afterAll(async () => {
  await relayed?.destroy();
  await relay?.close();
  await drop?.();
});

const readPoints = () => api.get('/v1/customers/ghost/points', KEYS.commerce);
/** What the route answers with PostgreSQL there: the customer is unknown. */
const ANSWERED = { status: 404, body: { code: 'not_found' } };
const UNAVAILABLE = {
  status: 503,
  contentType: 'application/problem+json',
  body: {
    type: 'urn:referrals:problem:temporarily_unavailable',
    status: 503,
    code: 'temporarily_unavailable',
    detail: expect.stringMatching(/PostgreSQL/),
    instance: '/v1/customers/ghost/points',
  },
};
/** The one log line of a request refused for the outage: a warning that names the request. */
const OUTAGE_LOGGED = [
  expect.objectContaining({
    level: 40,
    msg: 'PostgreSQL unavailable',
    requestId: expect.any(String),
    path: '/v1/customers/ghost/points',
  }),
];
const logsDuring = async <T>(act: () => Promise<T>) => {
  const before = logs.length;
  const result = await act();
  return { result, logged: logs.slice(before) };
};

describe('a request while PostgreSQL is down', () => {
  it('given the pool connected, when the server stops taking connections, then 503 temporarily_unavailable; once it is back, the same request is answered', async () => {
    expect(await readPoints()).toMatchObject(ANSWERED);
    await relay.set('refusing');
    const { result, logged } = await logsDuring(readPoints);
    expect(result).toMatchObject(UNAVAILABLE);
    expect(logged).toEqual(OUTAGE_LOGGED);
    await relay.set('up');
    expect(await readPoints()).toMatchObject(ANSWERED);
  });

  it('when the server takes each connection and ends it (shutting down), then 503 temporarily_unavailable', async () => {
    await relay.set('ending');
    try {
      const { result, logged } = await logsDuring(readPoints);
      expect(result).toMatchObject(UNAVAILABLE);
      expect(logged).toEqual(OUTAGE_LOGGED);
    } finally {
      await relay.set('up');
    }
    expect(await readPoints()).toMatchObject(ANSWERED);
  });

  it('when PostgreSQL answers but refuses the statement, then it is still a 500 internal_error, not an outage', async () => {
    await sql`alter table customers rename to customers_elsewhere`.execute(direct);
    try {
      const { result, logged } = await logsDuring(readPoints);
      expect(result).toMatchObject({ status: 500, body: { code: 'internal_error' } });
      expect(logged).toEqual([expect.objectContaining({ level: 50, msg: 'unhandled error' })]);
    } finally {
      await sql`alter table customers_elsewhere rename to customers`.execute(direct);
    }
  });
});
