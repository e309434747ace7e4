/**
 * `npm run bench:footprint -- [--open N] [--via claims|signups] [--temporal dev|postgres] [--concurrency C] [--out DIR]`
 *
 * The footprint with N referrals open and how it grows from N/10 to N: the service's RSS (split into the main thread's
 * heap, its buffers and the rest, as the benchmark splits it), the referrals the worker holds cached, PostgreSQL bytes
 * per referral (the app schema, every table and index) with each table's and each index's share, the largest tables'
 * rows as stored, their dead rows and HOT updates (what their bytes are made of), and Temporal history events per
 * referral from a sample. The referrals stay open: claims (the default, `POST /v1/referrals`: a pending
 * referral whose workflow waits for its signup or its expiry), the quickest way a referral opens through the API, or
 * signups by code (registered referrals, as the benchmark's own, at the signup rate: about 10 a second on 2 cores). Writes
 * bench/results/<date>-footprint-<topology>.json after every tenth of N, so a run stopped early (Ctrl-C) keeps the
 * readings it made. Exits 1 when a call failed or a step ran out of time.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { installTemporalRuntime } from '../../runtime/temporal-runtime';
import { expectStatus, httpClient, runClients, sleep, type RetryCount } from './load';
import { runCleanup } from './cleanup';
import { appSchemaBytes, appSchemaIndexes, appSchemaTables, appTableRows, referralCount } from './product';
import { memoryReading, memorySplit, RESULT_FORMAT, resultStamp, type MemoryReading } from './report';
import { runEnvironment } from './run-environment';
import { startStack, type Stack, type TemporalChoice } from './stack';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Claims share their referrers: one referrer's claims wait on its velocity lock, a hundred do not.
const REFERRERS = 100;
const HISTORY_SAMPLE = 20;

const { values } = parseArgs({
  options: {
    open: { type: 'string', default: '10000' },
    via: { type: 'string', default: 'claims' },
    temporal: { type: 'string' },
    concurrency: { type: 'string', default: '16' },
    out: { type: 'string' },
  },
});
const open = Number(values.open);
const concurrency = Number(values.concurrency);
if (!Number.isSafeInteger(open) || open < 10 || open > 1_000_000)
  throw new Error(`--open: 10 to 1,000,000, not ${values.open}`);
if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 256)
  throw new Error(`--concurrency: 1 to 256, not ${values.concurrency}`);
if (values.via !== 'claims' && values.via !== 'signups') throw new Error(`--via: claims or signups, not ${values.via}`);
// left out: the dev server, or TEMPORAL_ADDRESS's server when set (as for the benchmark)
if (values.temporal !== undefined && values.temporal !== 'dev' && values.temporal !== 'postgres')
  throw new Error(`--temporal: dev or postgres, not ${values.temporal}`);
const via = values.via;
const outDir = path.resolve(values.out ?? path.join(ROOT, 'bench/results'));

const logger = pino({ level: 'error' }, pino.destination(2));
installTemporalRuntime(logger, 'ERROR', { shutdownSignals: [] });
const began = new Date();
// read at the start: the checkout the run measured, not the one it ends in
const environment = runEnvironment();
// in every id it makes, so a run against a server it does not own never meets an earlier run's referrals
const runTag = `footprint-${began.getTime().toString(36)}`;
const log = (line: string) =>
  console.error(`footprint: ${((Date.now() - began.getTime()) / 1000).toFixed(1).padStart(7)} s  ${line}`);

interface Reading {
  open: number;
  seconds: number;
  memory: MemoryReading;
  /** referrals in the worker's cache (the SDK's gauge) */
  cached: number | null;
  /** the app schema's bytes over the empty schema's, per referral */
  postgresBytesPerReferral: number;
  /**
   * the largest tables' bytes per referral, gross: their empty pages included, so they may sum past the net figure;
   * with their rows as stored per referral (appTableRows), and, for the whole table, its rows dead and not yet
   * vacuumed and its updates so far (the HOT ones wrote no index entry)
   */
  postgresTables: Array<{
    table: string;
    bytesPerReferral: number;
    indexBytesPerReferral: number;
    rowBytesPerReferral: number;
    deadRowsNotVacuumed: number;
    updatesTotal: number;
    hotUpdatesTotal: number;
  }>;
  /** every index with its table, gross as the tables' shares are */
  postgresIndexes: Array<{ index: string; table: string; partial: boolean; bytesPerReferral: number }>;
  historyEventsPerReferral: number | null;
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'referrals-footprint-'));
const readings: Reading[] = [];
const problems: string[] = [];
let stack: Stack | undefined;
let ready: Reading | undefined;
const stamp = resultStamp(began);
/** The readings so far, written after each one: a run stopped before N keeps what it measured. */
async function save(topology: Stack): Promise<string> {
  const file = path.join(outDir, `${stamp}-footprint-${topology.topology}.json`);
  await mkdir(outDir, { recursive: true });
  await writeFile(
    file,
    `${JSON.stringify(
      {
        format: `footprint/${RESULT_FORMAT.footprint}`,
        date: began.toISOString(),
        topology: topology.topology,
        options: { open, via, concurrency, referrers: REFERRERS },
        machine: {
          cores: os.availableParallelism(),
          memoryBytes: os.totalmem(),
          cpu: os.cpus()[0]?.model ?? 'unknown',
        },
        versions: topology.versions,
        environment: await environment,
        ready,
        readings,
        problems,
      },
      null,
      2,
    )}\n`,
  );
  return file;
}
let stopping = false;
const { cleanups, cleanUp } = runCleanup({
  dir,
  log,
  // the readings so far are written: the run ends at its next step
  onSignal: () => (stopping = true),
});
try {
  stack = await startStack({ dir, temporal: values.temporal as TemporalChoice | undefined, cleanups, log });
  const started = stack;
  const emptyBytes = await appSchemaBytes(started.db);
  const service = await started.startService();
  const http = httpClient(service.apiUrl);
  const retries: RetryCount = { retried: 0 };
  const post = (route: string, key: string, body: unknown, expected: number[]) =>
    expectStatus(http, expected, 'POST', route, key, body, retries);
  // Orders never qualify and the expiry is far: every referral stays open. A thousand referrals of one referrer are
  // within its velocity limit: none is flagged, as an ordinary referral is not.
  const terms = {
    qualificationWindow: '30 days',
    minOrders: 1000,
    minSpend: 1_000_000_000_000,
    review: { velocityLimit: 10_000 },
  };
  const programme = await post(
    '/v1/admin/programs',
    started.apiKeys.admin,
    { name: 'footprint', currency: 'INR', terms },
    [201],
  );
  if (!programme.ok) throw new Error(`the programme: ${programme.error}`);
  const codes: string[] = [];
  for (let r = 0; r < REFERRERS; r++) {
    const code = await post(
      `/v1/customers/${runTag}-referrer-${r}/referral-code`,
      started.apiKeys.commerce,
      { programId: programme.value.id },
      [200, 201],
    );
    if (!code.ok) throw new Error(`a referral code: ${code.error}`);
    codes.push(code.value.code as string);
  }
  const referralIds: string[] = [];
  const openOne = (i: number) =>
    via === 'claims'
      ? post('/v1/referrals', started.apiKeys.commerce, { code: codes[i % REFERRERS] }, [201])
      : post(
          '/v1/events/signups',
          started.apiKeys.commerce,
          { eventId: `${runTag}-signup-${i}`, customerId: `${runTag}-referee-${i}`, code: codes[i % REFERRERS] },
          [201, 200],
        );

  const read = async (opened: number): Promise<Reading> => {
    // the last tasks of the step settle before the reading
    await sleep(2000);
    if (stopping) throw new Error('stopped');
    const memory = await service.memory({ collect: true });
    const metrics = await service.workerMetrics().catch(() => undefined);
    const referrals = await referralCount(started.db);
    const perReferral = (bytes: number) => (referrals > 0 ? bytes / referrals : 0);
    const tables = await appSchemaTables(started.db);
    const sample = referralIds.filter((_, i) => i % Math.max(1, Math.floor(referralIds.length / HISTORY_SAMPLE)) === 0);
    let events = 0;
    for (const id of sample.slice(0, HISTORY_SAMPLE))
      events += (await started.temporal.workflow.getHandle(`referral-${id}`).fetchHistory()).events?.length ?? 0;
    return {
      open: opened,
      seconds: (Date.now() - began.getTime()) / 1000,
      memory: memoryReading(memory),
      // the SDK exports its cache's gauge once something was cached
      cached: metrics ? (metrics.temporal_sticky_cache_size ?? 0) : null,
      postgresBytesPerReferral: perReferral((await appSchemaBytes(started.db)) - emptyBytes),
      postgresTables: await Promise.all(
        tables.slice(0, 6).map(async (t) => {
          const { rowBytes, ...writes } = await appTableRows(started.db, t.table);
          return {
            table: t.table,
            bytesPerReferral: perReferral(t.totalBytes),
            indexBytesPerReferral: perReferral(t.indexBytes),
            rowBytesPerReferral: perReferral(rowBytes),
            ...writes,
          };
        }),
      ),
      postgresIndexes: (await appSchemaIndexes(started.db)).map((i) => ({
        index: i.index,
        table: i.table,
        partial: i.partial,
        bytesPerReferral: perReferral(i.bytes),
      })),
      historyEventsPerReferral: sample.length > 0 ? events / Math.min(sample.length, HISTORY_SAMPLE) : null,
    };
  };
  const show = (r: Reading) =>
    log(
      `${r.open} open: ${memorySplit(r.memory)}; ${r.cached ?? '?'} cached; PostgreSQL ` +
        `${(r.postgresBytesPerReferral / 1024).toFixed(2)} KB per referral; ` +
        `${r.historyEventsPerReferral?.toFixed(1) ?? '?'} history events per referral`,
    );
  ready = await read(0);
  show(ready);
  await save(started);

  // a reading at every tenth of N: N/10 and N for the growth, the ones between for its shape
  const checkpoints = Array.from({ length: 10 }, (_, i) => Math.floor((open * (i + 1)) / 10));
  let done = 0;
  let opened = 0;
  for (const target of checkpoints) {
    if (stopping) break;
    log(`opening ${target - done} ${via} (${concurrency} clients)`);
    const from = done;
    const step = await runClients({
      count: target - from,
      concurrency,
      // at least a referral a second, or the run is not worth waiting for
      deadlineMs: Math.max(600_000, (target - from) * 1000),
      call: async (i) => {
        const answer = await openOne(from + i);
        if (answer.ok && typeof answer.value?.referralId === 'string') referralIds.push(answer.value.referralId);
        else if (answer.ok && typeof answer.value?.id === 'string') referralIds.push(answer.value.id);
        return answer;
      },
    });
    if (step.failed > 0) problems.push(`${step.failed} ${via} failed (${step.errors.join('; ')})`);
    if (step.timedOut) problems.push(`opening ${target - from} ${via} ran out of time`);
    log(`${step.ok} opened in ${step.seconds.toFixed(0)} s (${(step.ok / step.seconds).toFixed(1)} /s)`);
    done = target;
    opened += step.ok;
    const reading = await read(opened);
    show(reading);
    readings.push(reading);
    await save(started);
  }
  if (retries.retried > 0) log(`${retries.retried} answers were 503 and sent again`);
  if (started.temporalKind === 'external') {
    // Not our server: the referrals this run opened do not stay open against a database about to be dropped.
    log(`terminating the ${referralIds.length} referrals this run opened on ${started.temporalAddress}`);
    await runClients({
      count: referralIds.length,
      concurrency,
      deadlineMs: 600_000,
      call: async (i) => {
        await started.temporal.workflow
          .getHandle(`referral-${referralIds[i]}`)
          .terminate('footprint measured')
          .catch(() => undefined);
        return { ok: true, ms: 0 };
      },
    });
  }
} catch (error) {
  // what ended the run goes with the readings it made
  problems.push(`stopped: ${error instanceof Error ? error.message : String(error)}`);
  log(problems.at(-1)!);
} finally {
  await cleanUp();
}

if (!stack) process.exit(1);
const file = await save(stack);
log(`written to ${path.relative(process.cwd(), file) || file}`);
process.exit(problems.length > 0 ? 1 : 0);
