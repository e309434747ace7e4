/**
 * `npm run bench [-- --referrals N] [--expiring N] [--concurrency C] [--quick] [--temporal dev|postgres] [--out DIR]
 *   [--cpu-prof DIR]`
 *
 * The referral engine under load on this machine, beside baselines measured in the same run on the same servers:
 * what a trivial workflow, a bare update-with-start, a plain insert and a bare timer cost here. Starts the embedded
 * topology in a throwaway folder (Temporal dev server on WAL SQLite, embedded PostgreSQL, the service in a process of
 * its own), or uses TEMPORAL_ADDRESS / DATABASE_URL when set (a fresh database on that server, dropped afterwards;
 * the workflows it started are terminated). Prints one table and writes the same figures as JSON to
 * bench/results/<date>-<topology>.json. Exits 1 when a phase failed or ran out of time, 2 on bad options or a
 * topology that is not available.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { installTemporalRuntime } from '../../runtime/temporal-runtime';
import { startBaselines, type BaselineResults } from './baselines';
import { httpClient, runClients } from './load';
import { appSchemaBytes, appSchemaTables, referralCount, runProduct, type ProductRun } from './product';
import { runCleanup } from './cleanup';
import { phaseCpu } from './cpu';
import {
  figures,
  memoryReading,
  RESULT_FORMAT,
  resultStamp,
  table,
  type Footprint,
  type MemoryReading,
} from './report';
import { runEnvironment } from './run-environment';
import { NotAvailable, startStack, type ServiceProcess, type Stack, type TemporalChoice } from './stack';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE = `usage: npm run bench -- [--referrals N] [--expiring N] [--concurrency C] [--quick] [--temporal dev|postgres] [--out DIR]
  --referrals N     referrals per phase (default 1000; 30 with --quick)
  --expiring N      referrals expiring at one instant, and raw timers beside them (default: --referrals)
  --concurrency C   concurrent clients at full load; half load is C/2 (default 16; 8 with --quick)
  --quick           a short run (under a minute): what npm test runs
  --temporal KIND   dev: the Temporal dev server on WAL SQLite (default); postgres: a Temporal server on PostgreSQL
  --out DIR         where the JSON goes (default bench/results)
  --cpu-prof DIR    write the service's CPU profiles (.cpuprofile, one per thread) to DIR as it stops
  --split           the worker and the API in processes of their own, as the compose file runs them (RSS is the
                    worker's, the event-loop delay the API's)
TEMPORAL_ADDRESS and DATABASE_URL point it at servers it does not start.`;

function fail(message: string, code: number): never {
  console.error(`bench: ${message}`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      referrals: { type: 'string' },
      expiring: { type: 'string' },
      concurrency: { type: 'string' },
      quick: { type: 'boolean', default: false },
      temporal: { type: 'string' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      split: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (error) {
  fail(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`, 2);
}
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}
const count = (name: string, given: string | undefined, fallback: number, max: number): number => {
  if (given === undefined) return fallback;
  if (!/^\d+$/.test(given) || Number(given) < 1 || Number(given) > max)
    fail(`--${name} must be a whole number from 1 to ${max}, not ${given}`, 2);
  return Number(given);
};
const quick = parsed.quick;
const split = parsed.split;
const referrals = count('referrals', parsed.referrals, quick ? 30 : 1000, 1_000_000);
const expiring = count('expiring', parsed.expiring, referrals, 1_000_000);
const concurrency = count('concurrency', parsed.concurrency, quick ? 8 : 16, 1000);
if (parsed.temporal !== undefined && parsed.temporal !== 'dev' && parsed.temporal !== 'postgres')
  fail(`--temporal is dev or postgres, not ${parsed.temporal}`, 2);
const temporalChoice = parsed.temporal as TemporalChoice | undefined;
const outDir = path.resolve(parsed.out ?? path.join(ROOT, 'bench/results'));
const cpuProfileDir = parsed['cpu-prof'] === undefined ? undefined : path.resolve(parsed['cpu-prof']);
const lifecycleReferrals = quick ? 4 : 20;
// Each phase's own bound: a stack that stops answering ends the run, it does not hang it.
const deadlineMs = quick ? 60_000 : Math.max(180_000, referrals * 1000);
// the mass expiry's phases (its signups, its raw timers) are bounded by their own size
const expiryDeadlineMs = quick ? 60_000 : Math.max(180_000, expiring * 1000);

const logger = pino({ level: 'error' }, pino.destination(2));
installTemporalRuntime(logger, 'ERROR', { shutdownSignals: [] });
const began = new Date();
// read at the start: the checkout the run measured, not the one it ends in
const environment = runEnvironment();
// Other work on the machine moves every figure: the load around the run is kept with them.
const loadAtStart = os.loadavg()[0]!;
let servicePids: number[] = [];
const cpu = phaseCpu({
  servicePids: () => servicePids,
  loadAverage: () => os.loadavg()[0]!,
  serviceLoopDelay: async () => service?.loopDelay(),
});
const log = (line: string) => {
  // every baseline and product phase announces itself: the CPU each process spent is counted from there
  if (/^(baseline|product): /.test(line)) cpu.mark(line);
  console.error(`bench: ${((Date.now() - began.getTime()) / 1000).toFixed(1).padStart(6)} s  ${line}`);
};

const runTag = began.getTime().toString(36);
const problems: string[] = [];
const notes: string[] = [];
const dir = await mkdtemp(path.join(os.tmpdir(), 'referrals-bench-'));
const { cleanups, cleanUp } = runCleanup({ dir, log });

let stack: Stack | undefined;
let service: ServiceProcess | undefined;
let baseline: BaselineResults | undefined;
let product: ProductRun | undefined;
let footprint: Footprint | undefined;
try {
  log(
    `${referrals} referrals${expiring !== referrals ? `, ${expiring} expiring at once` : ''}, ${concurrency} clients${quick ? ' (quick)' : ''}; servers in ${dir}; logs of the service in ${path.join(dir, split ? 'service-{worker,api}.log' : 'service.log')}`,
  );
  if (cpuProfileDir) await mkdir(cpuProfileDir, { recursive: true });
  stack = await startStack({ dir, temporal: temporalChoice, cleanups, log, cpuProfileDir });
  const emptyBytes = await appSchemaBytes(stack.db);
  const started = stack;
  // Both bundle their workflows: side by side, before anything is measured.
  const [serviceProcess, baselines] = await Promise.all([
    started.startService({ split }),
    startBaselines({
      temporal: started.temporal,
      temporalAddress: started.temporalAddress,
      namespace: started.namespace,
      databaseUrl: started.databaseUrl,
      runTag,
    }).then((b) => {
      cleanups.push(b.stop);
      return b;
    }),
  ]);
  service = serviceProcess;
  servicePids = service.pids;
  const readyMemory = memoryReading(await service.memory({ collect: true }));
  const readyRss = readyMemory.rssBytes;
  log(
    `service running at ${service.apiUrl} (pid ${service.pids.join(', ')}${split ? ': worker, API' : ''}); baselines first`,
  );
  baseline = await baselines.run({
    referrals,
    timers: expiring,
    timersDeadlineMs: expiryDeadlineMs,
    concurrency,
    inserts: Math.max(referrals, quick ? 300 : 1000),
    deadlineMs,
    log,
    problems,
    notes,
  });

  let open: { openReferrals: number; rss: number; memory?: MemoryReading } = { openReferrals: 0, rss: 0 };
  let atMostOpen: Footprint['atMostOpen'];
  const running = service;
  product = await runProduct({
    http: httpClient(service.apiUrl),
    keys: started.apiKeys,
    db: started.db,
    temporal: started.temporal,
    runTag,
    referrals,
    expiring,
    expiryDeadlineMs,
    concurrency,
    lifecycleReferrals,
    historySample: quick ? 8 : 20,
    deadlineMs,
    log,
    problems,
    notes,
    onOpen: async (openReferrals, { collect }) => {
      const memory = await running.memory({ collect });
      const reading = memoryReading(memory);
      const opened = open.rss > 0;
      if (!opened) open = { openReferrals, rss: memory.rss, memory: reading };
      else atMostOpen = { openReferrals, rssBytes: memory.rss, memory: reading };
    },
    workerMetrics: () => running.workerMetrics(),
  });
  const memory = await service.memory();
  const totalBytes = await appSchemaBytes(stack.db);
  const total = await referralCount(stack.db);
  const phases = await cpu.finish();
  footprint = {
    openReferrals: open.openReferrals,
    split,
    serviceReadyRssBytes: readyRss,
    readyMemory,
    serviceRssBytes: open.rss,
    ...(open.memory ? { openMemory: open.memory } : {}),
    servicePeakRssBytes: memory.peakRss,
    ...(atMostOpen ? { atMostOpen } : {}),
    referrals: total,
    postgresBytes: totalBytes,
    postgresEmptyBytes: emptyBytes,
    // What the rows added: an empty schema's pages are not a referral's.
    postgresBytesPerReferral: total > 0 ? (totalBytes - emptyBytes) / total : 0,
    postgresTables: await appSchemaTables(stack.db),
    databasePool: memory.pool,
    phases,
  };

  if (stack.temporalKind === 'external') {
    // Not our server: what this run started does not stay running against a database that is about to be dropped.
    const ids = [
      ...baselines.workflowIds,
      ...product.referralIds.map((id) => `referral-${id}`),
      ...product.completedIds.map((id) => `lot-referral-${id}`),
    ];
    log(`terminating the ${ids.length} workflows this run started on ${stack.temporalAddress}`);
    const client = stack.temporal;
    await runClients({
      count: ids.length,
      concurrency,
      deadlineMs: 120_000,
      call: async (i) => {
        await client.workflow
          .getHandle(ids[i]!)
          .terminate('benchmark finished')
          .catch(() => undefined);
        return { ok: true, ms: 0 };
      },
    });
  }
} catch (error) {
  await cleanUp();
  if (error instanceof NotAvailable) fail(error.message, 2);
  throw error;
}
await cleanUp();

const cores = os.availableParallelism();
const wholeStackHere = stack.temporalKind !== 'external' && stack.postgresKind === 'embedded';
const rows = figures({
  concurrency,
  machine: { cores, wholeStackHere },
  baseline,
  product: product.results,
  footprint,
});
const versions = stack.versions;
const cpus = os.cpus();
const machine = {
  cores,
  cpu: cpus[0]?.model ?? 'unknown',
  memoryBytes: os.totalmem(),
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  loadAverage: { atStart: loadAtStart, atEnd: os.loadavg()[0]! },
};
const seconds = (Date.now() - began.getTime()) / 1000;
// the service's shape is part of the topology: split runs the worker and the API as the compose file does
const topology = `${stack.topology}${split ? '_split' : ''}`;
console.log(
  [
    '',
    `referral engine benchmark: ${topology}, ${referrals} referrals${expiring !== referrals ? ` (${expiring} expiring at once)` : ''}, ${concurrency} clients (${Math.max(1, Math.floor(concurrency / 2))} at half load)${quick ? ', quick' : ''}, ${seconds.toFixed(0)} s`,
    `${machine.cores} cores (${machine.cpu}), ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB, load average ${machine.loadAverage.atStart.toFixed(1)} before and ${machine.loadAverage.atEnd.toFixed(1)} after; Node ${versions.node}, Temporal server ${versions.temporalServer}${versions.temporalCli ? ` (${versions.temporalCli})` : ''}, PostgreSQL ${versions.postgres}`,
    '',
    ...table(rows),
    '',
    'Goals stated at 10,000 or 100,000 referrals are judged at this run’s size; goals are reported, not enforced.',
  ].join('\n'),
);
if (notes.length > 0) console.log(`\nnotes:\n${notes.map((p) => `  - ${p}`).join('\n')}`);
if (problems.length > 0) console.log(`\nproblems (the run fails):\n${problems.map((p) => `  - ${p}`).join('\n')}`);

const stamp = resultStamp(began);
const file = path.join(outDir, `${stamp}-${topology}${quick ? '-quick' : ''}.json`);
await mkdir(outDir, { recursive: true });
await writeFile(
  file,
  `${JSON.stringify(
    {
      format: `bench/${RESULT_FORMAT.bench}`,
      date: began.toISOString(),
      topology,
      quick,
      options: {
        referrals,
        expiring,
        concurrency,
        halfConcurrency: Math.max(1, Math.floor(concurrency / 2)),
        lifecycleReferrals,
        split,
      },
      machine,
      versions,
      environment: await environment,
      durationSeconds: seconds,
      figures: rows,
      baselines: baseline,
      product: product.results,
      footprint,
      notes,
      problems,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nwritten to ${path.relative(process.cwd(), file) || file}`);
process.exit(problems.length > 0 ? 1 : 0);
