/**
 * `npm run benchmark [-- referrals concurrency]`: the embedded topology on this machine (Temporal dev server with
 * WAL SQLite, embedded PostgreSQL, one worker, the API over HTTP), driven with signups and orders. Prints figures:
 * request rates and latencies, and how long until every referral is qualified in the projection.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { startReferralService } from '../service';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { freePort } from '../runtime/free-port';

const referrals = Number(process.argv[2] ?? 300);
const concurrency = Number(process.argv[3] ?? 16);
const logger = pino({ level: 'error' });
installTemporalRuntime(logger, 'ERROR');

const dir = await mkdtemp(path.join(tmpdir(), 'referrals-bench-'));
const postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
await postgres.createDatabase('referrals');
const db = createDatabase(postgres.url('referrals'), { max: 20 });
await migrateToLatest(db);
const dev = await startDevServer({
  dbFile: path.join(dir, 'temporal.db'),
  port: await freePort(),
  httpPort: await freePort(),
  metricsPort: await freePort(),
});
const secret = 'benchmark-secret-0123456789';
const apiKeys = [
  { name: 'bench', role: 'admin' as const, secret },
  { name: 'shop', role: 'commerce' as const, secret: `${secret}-c` },
];
const service = await startReferralService({
  db,
  temporalAddress: dev.address,
  namespace: 'default',
  apiKeys,
  port: 0,
  hostname: '127.0.0.1',
  logger,
});

const post = async (p: string, key: string, body: unknown) => {
  const started = performance.now();
  const response = await fetch(`${service.apiUrl}${p}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, any>;
  return { status: response.status, json, ms: performance.now() - started };
};

async function inParallel<T>(
  count: number,
  task: (i: number) => Promise<T>,
): Promise<{ results: T[]; seconds: number }> {
  const results: T[] = Array.from({ length: count });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return { results, seconds: (performance.now() - started) / 1000 };
}

const percentile = (values: number[], p: number) =>
  values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const describe = (
  label: string,
  run: { results: { status: number; ms: number }[]; seconds: number },
  expected: number,
) => {
  const ms = run.results.map((r) => r.ms);
  const wrong = run.results.filter((r) => r.status !== expected).length;
  console.log(
    `${label.padEnd(22)} ${String(run.results.length).padStart(5)} in ${run.seconds.toFixed(2)} s = ${(run.results.length / run.seconds).toFixed(1).padStart(6)}/s   p50 ${percentile(ms, 50).toFixed(0)} ms   p95 ${percentile(ms, 95).toFixed(0)} ms${wrong ? `   ${wrong} unexpected statuses` : ''}`,
  );
};

const program = await post('/v1/admin/programs', secret, { name: 'Benchmark', currency: 'INR' });
const codes = await inParallel(referrals, (i) =>
  post(`/v1/customers/referrer-${i}/referral-code`, `${secret}-c`, { programId: program.json.id }),
);
const signups = await inParallel(referrals, (i) =>
  post('/v1/events/signups', `${secret}-c`, {
    eventId: `signup-${i}`,
    customerId: `referee-${i}`,
    code: codes.results[i]!.json.code,
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
  }),
);
const orders = await inParallel(referrals, (i) =>
  post('/v1/events/orders', `${secret}-c`, {
    eventId: `order-${i}`,
    customerId: `referee-${i}`,
    orderId: `o-${i}`,
    status: 'completed',
    amount: 60_000,
    currency: 'INR',
    occurredAt: new Date(Date.now() - 30_000).toISOString(),
  }),
);
const drainStarted = performance.now();
let qualified = 0;
while (qualified < referrals && performance.now() - drainStarted < 300_000) {
  qualified = Number(
    (
      await db
        .selectFrom('referrals')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('status', '=', 'qualified')
        .executeTakeFirstOrThrow()
    ).n,
  );
  if (qualified < referrals) await new Promise((r) => setTimeout(r, 100));
}

console.log(
  `\nreferral engine benchmark: ${referrals} referrals, ${concurrency} concurrent clients, embedded topology`,
);
describe('issue codes (POST)', codes, 201);
describe('signups (update)', signups, 201);
describe('orders (signal, 202)', orders, 202);
console.log(
  `all qualified in projection ${((performance.now() - drainStarted) / 1000).toFixed(2)} s after the last order was acknowledged (${qualified}/${referrals})`,
);

await service.stop();
await dev.stop();
await db.destroy();
await postgres.stop();
await rm(dir, { recursive: true, force: true });
