/**
 * `npm run fuzz [-- --examples N] [--seed S] [--max-time SECONDS]`: schemathesis over every operation of the
 * published OpenAPI document, with every check it has, against the real stack (Temporal dev server, embedded
 * PostgreSQL, the worker and the API on free ports, all in a throwaway folder). Three runs, one per caller: the
 * commerce key, the admin key, and no key at all. Exits non-zero on any failure and prints one line per run.
 *
 * `npm test` runs a short fixed-seed pass (scripts/test.sh); the README says how to run a longer one.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { freePort, onFreePorts } from '../runtime/free-port';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { startReferralService } from '../service';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// The same venv scripts/install-fuzz-tools.sh installs into (FUZZ_VENV, relative to where npm runs: the checkout).
const VENV = process.env.FUZZ_VENV ? path.resolve(process.env.FUZZ_VENV) : path.join(ROOT, '.tools/fuzz-venv');
const SCHEMATHESIS = process.env.SCHEMATHESIS_PATH || path.join(VENV, 'bin/schemathesis');
const REPORTS = path.join(ROOT, '.data/fuzz');
const SKIP_HINT = '`FUZZ=0 npm test` runs the tests without the fuzz pass';

const { values: options } = parseArgs({
  options: {
    examples: { type: 'string', default: '10' },
    seed: { type: 'string', default: '20261125' },
    // schemathesis' own: fuzzing and stateful phases repeat until this budget is spent (so a run lasts about this long)
    'max-time': { type: 'string' },
    workers: { type: 'string' },
    // ours: a run still going after this many seconds is stopped and counted as failed
    timeout: { type: 'string' },
  },
});

interface FuzzRun {
  name: string;
  key: string | undefined;
}

interface RunResult {
  name: string;
  exitCode: number;
  seconds: number;
  cases: number;
  failures: number;
  errors: number;
  log: string;
  /** why the run failed when schemathesis could not say (it was stopped) */
  note?: string | undefined;
}

if (!existsSync(SCHEMATHESIS)) {
  console.error(`fuzz: ERROR: schemathesis is not installed at ${SCHEMATHESIS}`);
  console.error(
    'fuzz: run `bash scripts/install-fuzz-tools.sh` (needs python3 with venv, and PyPI); FUZZ_VENV chooses the venv',
  );
  console.error(`fuzz: ${SKIP_HINT}`);
  process.exit(1);
}

// Two workers where the venv's Python is 3.12 or later: CPython 3.11's ast module can fail under schemathesis'
// threads ("AST constructor recursion depth mismatch"), which would be a tool error, not a finding. Two workers
// interleave requests as threads are scheduled, so a run is only repeatable with one (`--workers 1`, as npm test does).
const pythonIsRecent = (): boolean => {
  try {
    const python = path.join(path.dirname(SCHEMATHESIS), 'python');
    return (
      execFileSync(python, ['-c', 'import sys; print(sys.version_info >= (3, 12))'], { encoding: 'utf8' }).trim() ===
      'True'
    );
  } catch {
    return false;
  }
};
const workers = options.workers ?? (pythonIsRecent() ? '2' : '1');
// The short pass takes about 20 s a run and a 60-example one under 2 minutes; a run past this has hung.
const timeoutSeconds = Number(options.timeout ?? (options['max-time'] ? Number(options['max-time']) + 300 : 900));
if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
  throw new Error(`--timeout must be a number of seconds, not ${options.timeout}`);

const logger = pino({ level: process.env.FUZZ_LOG_LEVEL ?? 'fatal' });
installTemporalRuntime(logger, 'ERROR');

const secret = () => randomBytes(18).toString('base64url');
const keys = { commerce: secret(), admin: secret() };
const runs: FuzzRun[] = [
  { name: 'commerce key', key: keys.commerce },
  { name: 'admin key', key: keys.admin },
  { name: 'no key', key: undefined },
];

// Ctrl-C or a TERM stops the schemathesis at work; the runs left are not started and everything is cleaned up below.
let interrupted: NodeJS.Signals | undefined;
let current: ChildProcess | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = signal;
    current?.kill('SIGTERM');
  });
}

const started = performance.now();
const dir = await mkdtemp(path.join(tmpdir(), 'referrals-fuzz-'));
const results: RunResult[] = [];
let postgres: EmbeddedPostgresServer | undefined;
let stackSeconds = 0;
try {
  // One PostgreSQL server for the three runs, each run with a database and a Temporal dev server of its own: what
  // one caller's run made (programmes, referrals, workflows) is not there for the next, so each run starts from the
  // same empty state whatever ran before it.
  postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
  await rm(REPORTS, { recursive: true, force: true });
  await mkdir(REPORTS, { recursive: true });
  for (const run of runs) {
    if (interrupted) break;
    results.push(
      await withFreshStack(postgres, run, (apiUrl, seconds) => {
        stackSeconds += seconds;
        return fuzz(run, apiUrl);
      }),
    );
  }
} finally {
  // remove(), not stop(): as root the cluster lives outside `dir` (linked from it), and would be left behind.
  await postgres
    ?.remove()
    .catch((error: unknown) =>
      console.error(`fuzz: could not remove the fuzz run's PostgreSQL cluster: ${String(error)}`),
    );
  await rm(dir, { recursive: true, force: true });
}

console.log(
  `fuzz: stacks up in ${stackSeconds.toFixed(1)} s; seed ${options.seed}, up to ${options.examples} examples per operation and phase, ${workers} worker(s)`,
);
for (const r of results) {
  const verdict = r.exitCode === 0 ? 'ok' : 'FAILED';
  console.log(
    `fuzz: ${r.name.padEnd(12)} ${verdict.padEnd(6)} ${r.cases} requests generated, ${r.failures} operations failed, ${r.errors} errors in ${r.seconds.toFixed(1)} s  (${path.relative(ROOT, r.log)})${r.note ? `: ${r.note}` : ''}`,
  );
}
if (interrupted)
  console.log(`fuzz: stopped by ${interrupted}; ${runs.length - results.length} run(s) not started, counted as failed`);
const failed = results.filter((r) => r.exitCode !== 0).length + (runs.length - results.length);
// Read by scripts/test.sh: each run counts as one test in `npm test`'s closing line.
await writeFile(path.join(REPORTS, 'summary.json'), JSON.stringify({ passed: runs.length - failed, failed }));
for (const r of results.filter((result) => result.exitCode !== 0)) {
  // The failures schemathesis found, with the exact requests to reproduce them (curl), from its own output.
  const output = await readFile(r.log, 'utf8');
  const start = output.search(/^=+ FAILURES =+$/m);
  console.log(
    `\n----- ${r.name}: schemathesis said -----\n${(start >= 0 ? output.slice(start) : output.slice(-6000)).trim()}`,
  );
  if (r.note) console.log(`----- ${r.name}: ${r.note}`);
}
console.log(`fuzz: ${failed === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed === 0 ? 0 : 1);

/** A database of its own (on the shared server), a Temporal dev server of its own, and the service over them. */
async function withFreshStack<T>(
  server: EmbeddedPostgresServer,
  run: FuzzRun,
  body: (apiUrl: string, stackSeconds: number) => Promise<T>,
): Promise<T> {
  const begun = performance.now();
  const database = `fuzz_${run.name.replace(/\W+/g, '_')}`;
  await server.createDatabase(database);
  const db = createDatabase(server.url(database), { max: 10 });
  let dev: Awaited<ReturnType<typeof startDevServer>> | undefined;
  let service: Awaited<ReturnType<typeof startReferralService>> | undefined;
  try {
    await migrateToLatest(db);
    dev = await onFreePorts(3, ([port, httpPort, metricsPort]) =>
      startDevServer({ port: port!, httpPort: httpPort!, metricsPort: metricsPort! }),
    );
    service = await startReferralService({
      db,
      temporalAddress: dev.address,
      namespace: 'default',
      apiKeys: [
        { name: 'fuzz-commerce', role: 'commerce', secret: keys.commerce },
        { name: 'fuzz-admin', role: 'admin', secret: keys.admin },
      ],
      port: await freePort(),
      hostname: '127.0.0.1',
      logger,
    });
    return await body(service.apiUrl, (performance.now() - begun) / 1000);
  } finally {
    await service?.stop();
    await db.destroy();
    await dev?.stop();
  }
}

async function fuzz(run: FuzzRun, apiUrl: string): Promise<RunResult> {
  const slug = run.name.replace(/\s+/g, '-');
  const log = path.join(REPORTS, `${slug}.log`);
  const junit = path.join(REPORTS, `${slug}.junit.xml`);
  const args = [
    '--config-file',
    path.join(ROOT, 'scripts/fuzz.toml'),
    '--no-color',
    'run',
    `${apiUrl}/openapi.json`,
    '--checks',
    'all',
    '--seed',
    options.seed,
    '--max-examples',
    options.examples,
    '--workers',
    workers,
    '--generation-database',
    'none',
    '--request-timeout',
    '30',
    '--report',
    'junit',
    '--report-junit-path',
    junit,
    ...(options['max-time'] ? ['--max-time', options['max-time']] : []),
    ...(run.key ? ['--header', `Authorization: Bearer ${run.key}`] : []),
  ];
  const begun = performance.now();
  const out = createWriteStream(log);
  let note: string | undefined;
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' },
    });
    current = child;
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    // A run that hangs (a request that never ends, a generator that never finishes) fails, rather than holding npm
    // test forever: stopped, then killed if it does not stop.
    let kill: NodeJS.Timeout | undefined;
    const limit = setTimeout(() => {
      note = `stopped after ${timeoutSeconds} s (--timeout): schemathesis did not finish; its output so far is in the log`;
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    }, timeoutSeconds * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      clearTimeout(kill);
      current = undefined;
      if (interrupted && !note) note = `stopped by ${interrupted}`;
      resolve(note ? 1 : (code ?? 1));
    });
  });
  await new Promise((resolve) => out.end(resolve));
  const report = await readFile(junit, 'utf8').catch(() => '');
  const attribute = (name: string) => Number(new RegExp(`<testsuite[^>]*\\b${name}="(\\d+)"`).exec(report)?.[1] ?? 0);
  const output = await readFile(log, 'utf8');
  return {
    name: run.name,
    exitCode,
    seconds: (performance.now() - begun) / 1000,
    cases: Number(/^\s*(\d+) generated/m.exec(output)?.[1] ?? 0),
    failures: attribute('failures'),
    errors: attribute('errors'),
    log,
    note,
  };
}
