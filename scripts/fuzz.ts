/**
 * `npm run fuzz [-- --examples N] [--seed S] [--max-time SECONDS]`: schemathesis over every operation of the
 * published OpenAPI document, with every check it has, against the real stack (Temporal dev server, embedded
 * PostgreSQL, the worker and the API on free ports, all in a throwaway folder). Three runs, one per caller: the
 * commerce key, the admin key, and no key at all. Exits non-zero on any failure and prints one line per run.
 *
 * `npm test` runs a short fixed-seed pass (scripts/test.sh); the README says how to run a longer one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { createDatabase } from '../db/connection';
import { startEmbeddedPostgres } from '../db/embedded-postgres';
import { migrateToLatest } from '../db/migrate';
import { freePort } from '../runtime/free-port';
import { startDevServer } from '../runtime/temporal-dev-server';
import { installTemporalRuntime } from '../runtime/temporal-runtime';
import { startReferralService } from '../service';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCHEMATHESIS = process.env.SCHEMATHESIS_PATH ?? path.join(ROOT, '.tools/fuzz-venv/bin/schemathesis');
const REPORTS = path.join(ROOT, '.data/fuzz');

const { values: options } = parseArgs({
  options: {
    examples: { type: 'string', default: '10' },
    seed: { type: 'string', default: '20261125' },
    'max-time': { type: 'string' },
    workers: { type: 'string' },
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
}

// Two workers where the venv's Python is 3.12 or later: CPython 3.11's ast module can fail under schemathesis'
// threads ("AST constructor recursion depth mismatch"), which would be a tool error, not a finding.
const pythonIsRecent = (): boolean => {
  try {
    const python = path.join(path.dirname(SCHEMATHESIS), 'python');
    return execFileSync(python, ['-c', 'import sys; print(sys.version_info >= (3, 12))'], { encoding: 'utf8' }).trim() === 'True';
  } catch {
    return false;
  }
};
const workers = options.workers ?? (pythonIsRecent() ? '2' : '1');

const logger = pino({ level: process.env.FUZZ_LOG_LEVEL ?? 'fatal' });
installTemporalRuntime(logger, 'ERROR');

const started = performance.now();
const dir = await mkdtemp(path.join(tmpdir(), 'referrals-fuzz-'));
const postgres = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), port: await freePort() });
await postgres.createDatabase('referrals');
const db = createDatabase(postgres.url('referrals'), { max: 10 });
await migrateToLatest(db);
const dev = await startDevServer({ port: await freePort(), httpPort: await freePort(), metricsPort: await freePort() });
const secret = () => randomBytes(18).toString('base64url');
const keys = { commerce: secret(), admin: secret() };
const service = await startReferralService({
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
const stackSeconds = (performance.now() - started) / 1000;

const runs: FuzzRun[] = [
  { name: 'commerce key', key: keys.commerce },
  { name: 'admin key', key: keys.admin },
  { name: 'no key', key: undefined },
];

await rm(REPORTS, { recursive: true, force: true });
await mkdir(REPORTS, { recursive: true });
const results: RunResult[] = [];
try {
  for (const run of runs) results.push(await fuzz(run));
} finally {
  await service.stop();
  await db.destroy();
  await dev.stop();
  await postgres.stop();
  await rm(dir, { recursive: true, force: true });
}

console.log(`fuzz: stack up in ${stackSeconds.toFixed(1)} s; seed ${options.seed}, up to ${options.examples} examples per operation and phase`);
for (const r of results) {
  const verdict = r.exitCode === 0 ? 'ok' : 'FAILED';
  console.log(
    `fuzz: ${r.name.padEnd(12)} ${verdict.padEnd(6)} ${r.cases} requests generated, ${r.failures} operations failed, ${r.errors} errors in ${r.seconds.toFixed(1)} s  (${path.relative(ROOT, r.log)})`,
  );
}
const failed = results.filter((r) => r.exitCode !== 0);
// Read by scripts/test.sh: each run counts as one test in `npm test`'s closing line.
await writeFile(path.join(REPORTS, 'summary.json'), JSON.stringify({ passed: results.length - failed.length, failed: failed.length }));
for (const r of failed) {
  // The failures schemathesis found, with the exact requests to reproduce them (curl), from its own output.
  const output = await readFile(r.log, 'utf8');
  const start = output.search(/^=+ FAILURES =+$/m);
  console.log(`\n----- ${r.name}: schemathesis said -----\n${(start >= 0 ? output.slice(start) : output.slice(-6000)).trim()}`);
}
console.log(`fuzz: ${failed.length === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);

async function fuzz(run: FuzzRun): Promise<RunResult> {
  const slug = run.name.replace(/\s+/g, '-');
  const log = path.join(REPORTS, `${slug}.log`);
  const junit = path.join(REPORTS, `${slug}.junit.xml`);
  const args = [
    '--config-file',
    path.join(ROOT, 'scripts/fuzz.toml'),
    '--no-color',
    'run',
    `${service.apiUrl}/openapi.json`,
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
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(SCHEMATHESIS, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' } });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
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
  };
}
