/**
 * The product's figures, through its HTTP API as a commerce backend would drive it, with what became of each event
 * read from the projection in PostgreSQL (never from the API, whose reads would add to the load being measured).
 */
import { sql } from 'kysely';
import type { Client } from '@temporalio/client';
import type { DB } from '../../db/connection';
import { rate, type RateFigure } from './baselines';
import { WAKE_PHASES } from './cpu';
import {
  expectStatus,
  pollUntil,
  runClients,
  sleep,
  summarise,
  type Call,
  type Http,
  type LatencySummary,
  type RetryCount,
} from './load';
import { workerPhase, type MetricTotals, type WorkerPhase } from './worker-metrics';

export interface DeliveryFigure {
  count: number;
  applied: number;
  seconds: number | null;
  perSecond: number | null;
}

export interface ProductResults {
  signups: RateFigure & { retried: number };
  ingestFull: RateFigure & { concurrency: number; retried: number };
  ingestHalf: RateFigure & { concurrency: number; retried: number };
  deliveryFull: DeliveryFigure;
  deliveryHalf: DeliveryFigure;
  lifecycle: {
    count: number;
    completed: number;
    latencyMs: LatencySummary;
    terms: { rewardHold: string; lateEventGrace: string };
  };
  massExpiry: {
    count: number;
    expired: number;
    qualificationWindowSeconds: number;
    creationSeconds: number;
    createdLate: number;
    /** already expired when the instant came: registered after their window closed */
    expiredAtInstant: number;
    secondsAfterInstant: number | null;
  };
  openReferrals: number;
  historyEvents: { open: number | null; completed: number | null; sampled: number };
  /** the worker's own account of each phase (worker-metrics.ts), by phase */
  worker?: Partial<Record<WorkerPhaseName, WorkerPhase & { operations: number }>>;
}

/** The phases the worker's account is kept for; operations are signups, orders, referrals or expiries. */
export type WorkerPhaseName = 'signups' | 'ordersFull' | 'ordersHalf' | 'lifecycle' | 'massExpiry';

export interface ProductRun {
  results: ProductResults;
  /** referral ids this run created, for a server the benchmark does not own */
  referralIds: string[];
  /** lifecycle referrals, whose completion started a point lot workflow */
  completedIds: string[];
}

type Problems = string[];

/**
 * The lifecycle programme's reward hold, first that can be published: none, so completion follows qualification at
 * once; where the API refuses a hold of '0', the least it takes. The results say which one ran.
 */
const LIFECYCLE_HOLDS = ['0', '1ms'];

export async function runProduct(options: {
  http: Http;
  keys: { admin: string; commerce: string };
  db: DB;
  temporal: Client;
  runTag: string;
  referrals: number;
  /** referrals whose windows close at one instant */
  expiring: number;
  /** the bound of the mass expiry's own phases */
  expiryDeadlineMs: number;
  concurrency: number;
  lifecycleReferrals: number;
  /** open referrals whose histories are read for their length */
  historySample: number;
  deadlineMs: number;
  log: (line: string) => void;
  /** what failed or did not finish in time: the run fails */
  problems: Problems;
  /** what qualifies a figure without failing the run */
  notes: string[];
  /**
   * called once the load phases are done and every ingest referral is open, and again once the mass expiry's are open
   * too, just before their windows close: the service's memory each time
   */
  onOpen: (openReferrals: number, reading: { collect: boolean }) => Promise<void>;
  /** the worker's SDK metrics so far (worker-metrics.ts) */
  workerMetrics: () => Promise<MetricTotals>;
}): Promise<ProductRun> {
  const { http, keys, db, runTag, referrals: n, concurrency, deadlineMs, log, problems, notes } = options;
  const half = Math.max(1, Math.floor(concurrency / 2));
  const referralIds: string[] = [];
  const note = (what: string, r: { failed: number; timedOut: boolean; errors: string[] }) => {
    if (r.failed > 0) problems.push(`${what}: ${r.failed} failed (${r.errors.join('; ')})`);
    if (r.timedOut) problems.push(`${what}: stopped at the ${deadlineMs / 1000} s deadline`);
  };
  const retried = (what: string, retries: RetryCount) => {
    if (retries.retried > 0) notes.push(`${what}: ${retries.retried} answers were 503 and the request was sent again`);
  };
  const workerPhases: NonNullable<ProductResults['worker']> = {};
  /** The worker's metrics now, or null (the phase then goes without its account, and the run says why). */
  const workerNow = () =>
    options.workerMetrics().catch((error: unknown) => {
      problems.push(`the worker's metrics: ${String(error)}`);
      return null;
    });
  const accountFor = async (
    name: WorkerPhaseName,
    operations: number,
    before: MetricTotals | null,
    after?: MetricTotals | null,
  ) => {
    const end = after === undefined ? await workerNow() : after;
    if (before && end) workerPhases[name] = { ...workerPhase(before, end), operations };
  };
  const clients = <T>(count: number, c: number, call: (i: number) => Promise<Call<T>>) =>
    runClients({ count, concurrency: c, deadlineMs, call });
  const post = (path: string, key: string, body: unknown, expected: number | number[], retries?: RetryCount) =>
    expectStatus(http, expected, 'POST', path, key, body, retries);

  const createProgram = async (name: string, terms: Record<string, unknown>): Promise<string | undefined> => {
    const created = await post('/v1/admin/programs', keys.admin, { name, currency: 'INR', terms }, 201);
    return created.ok ? (created.value.id as string) : undefined;
  };
  const programme = async (name: string, terms: Record<string, unknown>) => {
    const id = await createProgram(name, terms);
    if (!id) throw new Error(`could not create the ${name} programme`);
    const code = await post(
      `/v1/customers/${runTag}-referrer-${name}/referral-code`,
      keys.commerce,
      { programId: id },
      [200, 201],
    );
    if (!code.ok) throw new Error(`could not issue the ${name} programme's code: ${code.error}`);
    return { id, code: code.value.code as string };
  };
  // Orders count but never qualify (a thousand orders and ten billion rupees): the referrals stay open and take
  // every order, each one applied and projected.
  const countingTerms = { qualificationWindow: '1 hour', minOrders: 1000, minSpend: 1_000_000_000_000 };
  const ingest = await programme('ingest', countingTerms);
  const warmup = await programme('warmup', countingTerms);

  // A signup sent again after a 503 is answered 200 (a replay of the registration it finished), not 201.
  const signup = (name: string, code: string, i: number, retries: RetryCount, occurredAt?: string) =>
    post(
      '/v1/events/signups',
      keys.commerce,
      {
        eventId: `${runTag}-${name}-signup-${i}`,
        customerId: `${runTag}-${name}-referee-${i}`,
        code,
        ...(occurredAt ? { occurredAt } : {}),
      },
      [201, 200],
      retries,
    );
  const order = (name: string, i: number, orderId: string, amount: number, retries: RetryCount) =>
    post(
      '/v1/events/orders',
      keys.commerce,
      {
        eventId: `${runTag}-${name}-order-${orderId}-${i}`,
        customerId: `${runTag}-${name}-referee-${i}`,
        orderId: `${orderId}-${i}`,
        status: 'completed',
        amount,
        currency: 'INR',
        occurredAt: new Date().toISOString(),
      },
      202,
      retries,
    );
  const countedAtLeast = async (programId: string, orders: number) =>
    Number(
      (
        await db
          .selectFrom('referrals')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('program_id', '=', programId)
          .where('counted_orders', '>=', orders)
          .executeTakeFirstOrThrow()
      ).n,
    );

  // Warm-up, untimed: the service's JIT, its pools and the worker's first bundles of work.
  const warm = Math.min(n, concurrency);
  log(`product: warm-up, ${warm} signups and orders`);
  const warmRetries: RetryCount = { retried: 0 };
  const warmed = await clients(warm, concurrency, (i) => signup('warmup', warmup.code, i, warmRetries));
  for (const body of warmed.values) if (body?.referralId) referralIds.push(body.referralId as string);
  await clients(warm, concurrency, (i) => order('warmup', i, 'w', 1000, warmRetries));

  log(`product: ${n} signups (update-with-start), ${concurrency} clients`);
  const signupRetries: RetryCount = { retried: 0 };
  const beforeSignups = await workerNow();
  const signups = await clients(n, concurrency, (i) => signup('ingest', ingest.code, i, signupRetries));
  await accountFor('signups', signups.ok, beforeSignups);
  note('signups', signups);
  retried('signups', signupRetries);
  const ingestIds = signups.values.flatMap((body) => (body?.referralId ? [body.referralId as string] : []));
  referralIds.push(...ingestIds);
  const registered = signups.ok;

  /** Orders to every ingest referral, and how long until their workflows have applied them all. */
  const ingestAndDeliver = async (c: number, orderId: string, ordinal: number) => {
    const sentFrom = performance.now();
    const delivered = pollUntil({
      read: () => countedAtLeast(ingest.id, ordinal),
      done: (count) => count >= registered,
      intervalMs: 50,
      timeoutMs: deadlineMs * 2,
    });
    const retries: RetryCount = { retried: 0 };
    const sent = await clients(n, c, (i) => order('ingest', i, orderId, 1000, retries));
    note(`orders at ${c} clients`, sent);
    retried(`orders at ${c} clients`, retries);
    const applied = await delivered;
    if (!applied.done) problems.push(`orders at ${c} clients: ${registered - applied.value} not applied in time`);
    const seconds = applied.done ? (applied.at - sentFrom) / 1000 : null;
    return {
      ingest: { ...rate(sent), concurrency: c, retried: retries.retried },
      delivery: {
        count: registered,
        applied: applied.value,
        seconds,
        perSecond: seconds ? applied.value / seconds : null,
      },
    };
  };
  log(`product: ${n} orders at full load (${concurrency} clients)`);
  const beforeFull = await workerNow();
  const full = await ingestAndDeliver(concurrency, 'a', 1);
  await accountFor('ordersFull', n, beforeFull);
  log(`product: ${n} orders at half load (${half} clients)`);
  const beforeHalf = await workerNow();
  const halfLoad = await ingestAndDeliver(half, 'b', 2);
  await accountFor('ordersHalf', n, beforeHalf);
  const countOpen = async () =>
    Number(
      (
        await db
          .selectFrom('referrals')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', 'not in', ['completed', 'expired', 'rejected', 'cancelled'])
          .executeTakeFirstOrThrow()
      ).n,
    );
  const openReferrals = await countOpen();
  // a phase of its own: the reading's full collection is charged to no measured phase
  log(`product: the service's memory with ${openReferrals} open`);
  await options.onOpen(openReferrals, { collect: true });

  // Lifecycle: one referral at a time, from the qualifying order's 202 to `completed` in the projection.
  let lifecycleProgram: string | undefined;
  let rewardHold = LIFECYCLE_HOLDS[0]!;
  for (const hold of LIFECYCLE_HOLDS) {
    rewardHold = hold;
    lifecycleProgram = await createProgram('lifecycle', { rewardHold: hold, lateEventGrace: '0' });
    if (lifecycleProgram) break;
  }
  if (!lifecycleProgram) throw new Error('could not create the lifecycle programme');
  const lifecycleCode = await post(
    `/v1/customers/${runTag}-referrer-lifecycle/referral-code`,
    keys.commerce,
    { programId: lifecycleProgram },
    [200, 201],
  );
  const L = options.lifecycleReferrals;
  log(`product: ${L} referrals one at a time, qualifying order → completed`);
  const lifecycleLatencies: number[] = [];
  const lifecycleRetries: RetryCount = { retried: 0 };
  const completedIds: string[] = [];
  const beforeLifecycle = await workerNow();
  for (let i = 0; i < L; i++) {
    const registeredOne = await signup('lifecycle', lifecycleCode.value?.code as string, i, lifecycleRetries);
    if (!registeredOne.ok) {
      problems.push(`lifecycle signup: ${registeredOne.error}`);
      continue;
    }
    const referralId = registeredOne.value.referralId as string;
    referralIds.push(referralId);
    const qualifying = await order('lifecycle', i, 'q', 60_000, lifecycleRetries);
    if (!qualifying.ok) {
      problems.push(`lifecycle order: ${qualifying.error}`);
      continue;
    }
    const acknowledged = performance.now();
    const completed = await pollUntil({
      read: async () =>
        (await db.selectFrom('referrals').select('status').where('id', '=', referralId).executeTakeFirst())?.status,
      done: (status) => status === 'completed',
      intervalMs: 5,
      timeoutMs: 30_000,
    });
    if (!completed.done) {
      problems.push(`lifecycle: referral ${referralId} still ${completed.value} 30 s after its qualifying order`);
      continue;
    }
    lifecycleLatencies.push(completed.at - acknowledged);
    completedIds.push(referralId);
  }

  retried('lifecycle', lifecycleRetries);
  await accountFor('lifecycle', completedIds.length, beforeLifecycle);

  // Mass expiry: signups dated one shared instant, so every qualification window closes together. The window leaves
  // room to register them all at the signup rate measured above, with a margin: on a shared machine the rate halves
  // from one minute to the next, and referrals still registering after the instant would be timed as expiring late.
  const signupRate = signups.seconds > 0 && signups.ok > 0 ? signups.ok / signups.seconds : 10;
  const windowSeconds = Math.ceil((options.expiring / signupRate) * 1.6 + 5);
  const expiry = await programme('expiry', { qualificationWindow: `${windowSeconds}s`, lateEventGrace: '0' });
  const registeredAt = new Date();
  const expiresAt = registeredAt.getTime() + windowSeconds * 1000;
  log(`product: ${options.expiring} signups whose qualification windows all close in ${windowSeconds} s`);
  let createdLate = 0;
  const expiryRetries: RetryCount = { retried: 0 };
  const expiring = await runClients({
    count: options.expiring,
    concurrency,
    deadlineMs: options.expiryDeadlineMs,
    call: async (i) => {
      const call = await signup('expiry', expiry.code, i, expiryRetries, registeredAt.toISOString());
      if (Date.now() > expiresAt) createdLate += 1;
      return call;
    },
  });
  note('expiring signups', expiring);
  retried('expiring signups', expiryRetries);
  for (const body of expiring.values) if (body?.referralId) referralIds.push(body.referralId as string);
  if (createdLate > 0)
    notes.push(`mass expiry: ${createdLate} referrals registered after their window closed (expired at once)`);
  log(`product: registered in ${expiring.seconds.toFixed(1)} s; waiting for the windows to close`);
  // A full collection pauses the service's main thread: only with time to spare before the windows close.
  if (Date.now() < expiresAt) await options.onOpen(await countOpen(), { collect: expiresAt - Date.now() > 30_000 });
  await sleep(expiresAt - Date.now());
  log(`${WAKE_PHASES.windows}: ${expiring.ok} referrals to expire`);
  const workerBefore = await workerNow();
  const expiredCount = async () =>
    Number(
      (
        await db
          .selectFrom('referrals')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('program_id', '=', expiry.id)
          .where('status', '=', 'expired')
          .executeTakeFirstOrThrow()
      ).n,
    );
  // expired before the instant (registered after their window closed): not the wake's work
  const expiredAtInstant = await expiredCount();
  const expired = await pollUntil({
    read: expiredCount,
    done: (count) => count >= expiring.ok,
    intervalMs: 50,
    timeoutMs: options.expiryDeadlineMs,
  });
  if (!expired.done) problems.push(`mass expiry: ${expiring.ok - expired.value} not expired in time`);
  // The worker's account ends once every expired referral's workflow has finished: its last tasks come after the
  // write that shows it expired.
  const workerAfter = workerBefore
    ? await pollUntil({
        read: () => options.workerMetrics(),
        done: (totals) => workerPhase(workerBefore, totals).workflowsCompleted >= expired.value,
        intervalMs: 250,
        timeoutMs: 120_000,
      }).then(
        (polled) => {
          if (!polled.done) notes.push('mass expiry: the worker had not finished every expired workflow 120 s later');
          return polled.value;
        },
        (error: unknown) => {
          problems.push(`mass expiry: the worker's metrics: ${String(error)}`);
          return null;
        },
      )
    : null;
  await accountFor('massExpiry', expired.value, workerBefore, workerAfter);
  if (expired.value > 0 && workerPhases.massExpiry?.workflowTasks === 0)
    problems.push('mass expiry: the worker metrics counted no workflow task');

  // History length per referral, from a sample: the open ones (signup, two orders) and the completed ones.
  const historyOf = async (ids: string[]) => {
    let events = 0;
    let read = 0;
    for (const id of ids) {
      try {
        events += (await options.temporal.workflow.getHandle(`referral-${id}`).fetchHistory()).events?.length ?? 0;
        read += 1;
      } catch (error) {
        problems.push(`history of referral ${id}: ${String(error)}`);
      }
    }
    return read > 0 ? events / read : null;
  };
  const sample = ingestIds.slice(0, options.historySample);
  log(
    `product: all expired ${expired.done ? `${((expired.epochMs - expiresAt) / 1000).toFixed(2)} s after the instant` : 'NOT in time'}; reading ${sample.length + completedIds.length} histories`,
  );

  return {
    referralIds,
    completedIds,
    results: {
      signups: { ...rate(signups), retried: signupRetries.retried },
      ingestFull: full.ingest,
      ingestHalf: halfLoad.ingest,
      deliveryFull: full.delivery,
      deliveryHalf: halfLoad.delivery,
      lifecycle: {
        count: L,
        completed: lifecycleLatencies.length,
        latencyMs: summarise(lifecycleLatencies),
        terms: { rewardHold, lateEventGrace: '0' },
      },
      massExpiry: {
        count: expiring.ok,
        expired: expired.value,
        qualificationWindowSeconds: windowSeconds,
        creationSeconds: expiring.seconds,
        createdLate,
        expiredAtInstant,
        secondsAfterInstant: expired.done ? (expired.epochMs - expiresAt) / 1000 : null,
      },
      openReferrals,
      historyEvents: {
        open: await historyOf(sample),
        completed: await historyOf(completedIds),
        sampled: sample.length + completedIds.length,
      },
      worker: workerPhases,
    },
  };
}

/** Bytes of every table in the application's schema, indexes and TOAST included. */
export async function appSchemaBytes(db: DB): Promise<number> {
  const { rows } = await sql<{ bytes: string }>`
    select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint as bytes
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'm')`.execute(db);
  return Number(rows[0]!.bytes);
}

/** Each app table's bytes (heap, TOAST, indexes), largest first: where a referral's footprint goes. */
export async function appSchemaTables(
  db: DB,
): Promise<Array<{ table: string; totalBytes: number; indexBytes: number; rows: number }>> {
  const { rows } = await sql<{ table: string; total: string; indexes: string; rows: string }>`
    select c.relname as table, pg_total_relation_size(c.oid)::bigint as total,
           pg_indexes_size(c.oid)::bigint as indexes, c.reltuples::bigint as rows
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'm')
    order by pg_total_relation_size(c.oid) desc`.execute(db);
  return rows.map((r) => ({
    table: r.table,
    totalBytes: Number(r.total),
    indexBytes: Number(r.indexes),
    rows: Number(r.rows),
  }));
}

/**
 * What one table's bytes hold beside its indexes: its rows as stored (each with its row header, values compressed or
 * kept out of line counted at their stored size; without line pointers and pages' free space), and what its writes
 * left, as the statistics had them at the reading (a backend may hold its latest counts for about ten seconds):
 * rows dead and not yet vacuumed, and its updates since the database was made, of them the HOT ones that wrote no
 * index entry.
 */
export async function appTableRows(
  db: DB,
  table: string,
): Promise<{ rowBytes: number; deadRowsNotVacuumed: number; updatesTotal: number; hotUpdatesTotal: number }> {
  const { rows: data } = await sql<{ bytes: string }>`
    select coalesce(sum(pg_column_size(t.*)), 0)::bigint as bytes from ${sql.id('public', table)} t`.execute(db);
  const { rows: stats } = await sql<{ dead: string; updates: string; hot: string }>`
    select n_dead_tup::bigint as dead, n_tup_upd::bigint as updates, n_tup_hot_upd::bigint as hot
    from pg_stat_user_tables where schemaname = 'public' and relname = ${table}`.execute(db);
  return {
    rowBytes: Number(data[0]!.bytes),
    deadRowsNotVacuumed: Number(stats[0]?.dead ?? 0),
    updatesTotal: Number(stats[0]?.updates ?? 0),
    hotUpdatesTotal: Number(stats[0]?.hot ?? 0),
  };
}

/** Every index of the application's schema with its table, its bytes (all forks) and whether it is partial, largest first. */
export async function appSchemaIndexes(
  db: DB,
): Promise<Array<{ index: string; table: string; bytes: number; partial: boolean }>> {
  const { rows } = await sql<{ index: string; table: string; bytes: string; partial: boolean }>`
    select i.relname as index, t.relname as table, pg_total_relation_size(i.oid)::bigint as bytes,
           x.indpred is not null as partial
    from pg_index x
    join pg_class i on i.oid = x.indexrelid
    join pg_class t on t.oid = x.indrelid
    join pg_namespace n on n.oid = t.relnamespace
    where n.nspname = 'public'
    order by pg_total_relation_size(i.oid) desc, i.relname`.execute(db);
  return rows.map((r) => ({ index: r.index, table: r.table, bytes: Number(r.bytes), partial: r.partial }));
}

export async function referralCount(db: DB): Promise<number> {
  return Number(
    (
      await db
        .selectFrom('referrals')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );
}
