/**
 * `npm run chaos -- --minutes M --seed S [--temporal dev|postgres]`: a seeded random workload through the HTTP API
 * while real faults hit the real processes, then every referral, lot, voucher and balance held to the reference
 * model. Prints one table and writes the same as JSON to `.data/chaos/`; exits 1 when any column that must be zero
 * is not (the command that replays the run is printed), 2 on bad options.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FAULT_KINDS, faultInjector, type FaultKind, type InjectedFault } from './faults';
import { chaosHttp } from './http';
import { Prng } from './prng';
import { profileFor, programTerms } from './profile';
import { startChaosStack, type ChaosStack, type TemporalChoice } from './stack';
import { settleAndVerify, type Findings } from './verify';
import { runWorkload, type Referrer, type Workload } from './workload';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChaosResult {
  seed: number;
  minutes: number;
  temporal: TemporalChoice;
  profile: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: { cores: number; memoryBytes: number; loadAverage: number[] };
  versions: ChaosStack['versions'] | null;
  columns: {
    eventsSent: number;
    duplicates: number;
    faultsInjected: number;
    eventsLost: number;
    rewardsDoubled: number;
    invariantBreaks: number;
    stuckReferrals: number;
    mismatches: number;
  };
  faultsByKind: Record<FaultKind, number>;
  referrals: number;
  referralsByKind: Record<string, number>;
  eventsByKind: Record<string, number>;
  retries: { requests: number; retries: number; gaveUp: number };
  unplannedExits: Array<{ process: string; at: string; how: string }>;
  faults: InjectedFault[];
  findings: Omit<Findings, 'waitedMs'> | null;
  settleWaitMs: number;
  error: string | null;
  passed: boolean;
}

function usage(message: string): never {
  console.error(`chaos: ${message}`);
  console.error(
    'usage: npm run chaos -- --minutes M --seed S [--temporal dev|postgres] [--profile short|long] [--faults-per-kind N] [--pg-outage-seconds N] [--grace-seconds N] [--max-referrals N] [--out DIR]',
  );
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    minutes: { type: 'string' },
    seed: { type: 'string' },
    temporal: { type: 'string', default: 'dev' },
    profile: { type: 'string' },
    'faults-per-kind': { type: 'string' },
    'pg-outage-seconds': { type: 'string', default: '10' },
    'grace-seconds': { type: 'string', default: '90' },
    'max-referrals': { type: 'string' },
    out: { type: 'string', default: path.join(ROOT, '.data/chaos') },
  },
  strict: true,
});
const minutes = Number(values.minutes ?? '2');
if (!(minutes > 0 && minutes <= 24 * 60)) usage('--minutes must be a number of minutes above 0 (a day at most)');
const seed = values.seed === undefined ? Math.floor(Date.now() % 1_000_000) : Number(values.seed);
if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) usage('--seed must be an integer from 0 to 4294967295');
const temporal = values.temporal as TemporalChoice;
if (temporal !== 'dev' && temporal !== 'postgres') usage('--temporal must be dev or postgres');
const profileName = (values.profile ?? (minutes >= 3 ? 'long' : 'short')) as 'short' | 'long';
if (profileName !== 'short' && profileName !== 'long') usage('--profile must be short or long');
const perKind = Number(values['faults-per-kind'] ?? Math.max(1, Math.round(minutes / 2)));
if (!Number.isInteger(perKind) || perKind < 0 || perKind > 100) usage('--faults-per-kind must be 0 to 100');
const pgOutageMs = Number(values['pg-outage-seconds']) * 1000;
if (!(pgOutageMs >= 0 && pgOutageMs <= 120_000)) usage('--pg-outage-seconds must be 0 to 120');
const graceMs = Number(values['grace-seconds']) * 1000;
if (!(graceMs >= 30_000 && graceMs <= 600_000)) usage('--grace-seconds must be 30 to 600');
const maxReferrals = Number(values['max-referrals'] ?? 5_000);
if (!Number.isInteger(maxReferrals) || maxReferrals < 1) usage('--max-referrals must be a positive integer');

const profile = profileFor(profileName, pgOutageMs, graceMs);
const command = [
  'npm run chaos --',
  `--minutes ${minutes}`,
  `--seed ${seed}`,
  `--temporal ${temporal}`,
  `--profile ${profileName}`,
  `--faults-per-kind ${perKind}`,
  `--pg-outage-seconds ${pgOutageMs / 1000}`,
  `--grace-seconds ${graceMs / 1000}`,
  ...(values['max-referrals'] ? [`--max-referrals ${maxReferrals}`] : []),
].join(' ');

const started = Date.now();
const log = (line: string) =>
  console.error(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}`);
let aborted = false;
let interrupts = 0;
const onSignal = () => {
  interrupts += 1;
  aborted = true;
  log(interrupts === 1 ? 'interrupted: stopping the run and everything it started' : 'interrupted again: exiting now');
  // the servers and processes die with us (PR_SET_PDEATHSIG, and their exit handlers)
  if (interrupts > 1) process.exit(130);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const runDir = path.join(os.tmpdir(), `referrals-chaos-${seed}-${started}`);
const cleanups: Array<() => Promise<void>> = [];
let stack: ChaosStack | undefined;
let workload: Workload | undefined;
let faults: InjectedFault[] = [];
let findings: Findings | undefined;
let error: string | null = null;
let retries = { requests: 0, retries: 0, gaveUp: 0 };

try {
  log(`seed ${seed}, ${minutes} min, Temporal ${temporal}, ${profileName} terms, ${perKind} of each fault`);
  stack = await startChaosStack({ dir: runDir, temporal, log, cleanups });
  log(`stack up: API ${stack.apiUrl}, PostgreSQL ${stack.versions.postgres}, ${stack.versions.temporal}`);
  const http = chaosHttp({ baseUrl: stack.apiUrl, budgetMs: 240_000, aborted: () => aborted });
  const prng = new Prng(seed);

  const currency = 'INR';
  const program = await http.send('POST', '/v1/admin/programs', stack.keys.admin, {
    name: `Chaos ${seed}`,
    currency,
    terms: programTerms(profile),
  });
  if (program.status !== 201)
    throw new Error(`the programme was refused: ${program.status} ${JSON.stringify(program.body)}`);
  const programId = program.body.id as string;
  const referrers: Referrer[] = [];
  for (let i = 0; i < 8; i += 1) {
    const context = i >= 6 ? { ip: `10.77.${i}.1`, deviceId: `chaos-device-${seed}-${i}` } : null;
    const id = `referrer-${seed}-${i}`;
    const answer = await http.send('POST', `/v1/customers/${id}/referral-code`, stack.keys.commerce, {
      programId,
      ...(context ? { context } : {}),
    });
    if (answer.status !== 201 && answer.status !== 200) throw new Error(`no code for ${id}: ${answer.status}`);
    referrers.push({ id, code: answer.body.code as string, context });
  }

  const workStart = Date.now();
  const stopStartingAt = workStart + minutes * 60_000;
  const injector = faultInjector({
    stack,
    prng: prng.fork(),
    perKind,
    kinds: FAULT_KINDS,
    from: workStart + 3_000,
    until: stopStartingAt,
    pgOutageMs,
    aborted: () => aborted,
    log,
  });
  // A fault whose recovery failed ends the run with the table and the replay command, not an unhandled rejection.
  let faultError: unknown = null;
  const faultRun = injector.run().catch((caught: unknown) => {
    faultError = caught;
    // the stack is not whole again: nothing the workload sends from here on can be judged
    aborted = true;
    return [] as InjectedFault[];
  });
  workload = await runWorkload({
    http,
    keys: stack.keys,
    profile,
    prng: prng.fork(),
    programId,
    referrers,
    currency,
    stopStartingAt,
    maxReferrals,
    referralEveryMs: profile.name === 'short' ? 600 : 1_500,
    hooks: injector.hooks,
    aborted: () => aborted,
    log,
    termMoves: true,
  });
  faults = await faultRun;
  if (faultError !== null) throw faultError;
  if (aborted) throw new Error('interrupted');
  findings = await settleAndVerify({ stack, http, workload, profile, log, aborted: () => aborted });
  if (aborted) throw new Error('interrupted');
  retries = http.stats();
} catch (caught) {
  error = caught instanceof Error ? (caught.stack ?? caught.message) : String(caught);
  log(`the run failed: ${error}`);
} finally {
  const unplannedExits = stack?.unplannedExits() ?? [];
  const result = summarise(unplannedExits);
  await stack?.stop();
  await mkdir(values.out!, { recursive: true });
  const file = path.join(
    values.out!,
    `${new Date(started).toISOString().replace(/[:.]/g, '-')}-seed${seed}-${temporal}.json`,
  );
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  // The servers' state goes with the run; the logs stay beside it when it failed.
  if (result.passed) await rm(runDir, { recursive: true, force: true });
  console.log(table(result));
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  if (!result.passed) {
    console.log(`logs of the worker and the API: ${runDir}`);
    console.log(`replay: ${command}`);
  }
  process.exit(result.passed ? 0 : 1);
}

function summarise(unplannedExits: ChaosResult['unplannedExits']): ChaosResult {
  const faultsByKind = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
  for (const f of faults) if (!f.detail.startsWith('RECOVERY FAILED')) faultsByKind[f.kind] += 1;
  const referralsByKind: Record<string, number> = {};
  for (const r of workload?.referrals ?? []) referralsByKind[r.kind] = (referralsByKind[r.kind] ?? 0) + 1;
  const columns: ChaosResult['columns'] = {
    eventsSent: workload?.counters.eventsSent ?? 0,
    duplicates: workload?.counters.duplicates ?? 0,
    faultsInjected: Object.values(faultsByKind).reduce((a, b) => a + b, 0),
    eventsLost: findings?.eventsLost.length ?? 0,
    rewardsDoubled: findings?.rewardsDoubled.length ?? 0,
    invariantBreaks: findings?.invariantBreaks.length ?? 0,
    stuckReferrals: findings?.stuck.length ?? 0,
    mismatches: findings?.mismatches.length ?? 0,
  };
  const zeroes = [
    columns.eventsLost,
    columns.rewardsDoubled,
    columns.invariantBreaks,
    columns.stuckReferrals,
    columns.mismatches,
  ];
  const { waitedMs, ...kept } = findings ?? { waitedMs: 0 };
  return {
    seed,
    minutes,
    temporal,
    profile: profileName,
    command,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cores: os.cpus().length, memoryBytes: os.totalmem(), loadAverage: os.loadavg() },
    versions: stack?.versions ?? null,
    columns,
    faultsByKind,
    referrals: workload?.referrals.length ?? 0,
    referralsByKind,
    eventsByKind: workload?.counters.byKind ?? {},
    retries,
    unplannedExits,
    faults,
    findings: findings ? (kept as Omit<Findings, 'waitedMs'>) : null,
    settleWaitMs: waitedMs,
    error,
    passed: error === null && findings !== undefined && zeroes.every((n) => n === 0),
  };
}

function table(r: ChaosResult): string {
  const c = r.columns;
  const kinds = FAULT_KINDS.map((k) => `${k} ${r.faultsByKind[k]}`).join(', ');
  const rows: Array<[string, number | string, boolean]> = [
    ['events sent', c.eventsSent, false],
    ['duplicates', c.duplicates, false],
    ['faults injected', `${c.faultsInjected} (${kinds})`, false],
    ['events lost', c.eventsLost, true],
    ['rewards doubled', c.rewardsDoubled, true],
    ['invariant breaks', c.invariantBreaks, true],
    ['stuck referrals', c.stuckReferrals, true],
    ['mismatches with the model', c.mismatches, true],
  ];
  const lines = [
    `chaos run: seed ${r.seed}, ${r.minutes} min, Temporal ${r.temporal}, ${r.profile} terms, ${r.referrals} referrals`,
    ...rows.map(([name, value, mustBeZero]) => {
      const flag = mustBeZero ? (value === 0 ? '  ok' : '  MUST BE 0') : '';
      return `  ${name.padEnd(27)} ${String(value).padStart(6)}${flag}`;
    }),
  ];
  const f = r.findings;
  if (f) {
    for (const [name, list] of [
      ['events lost', f.eventsLost],
      ['rewards doubled', f.rewardsDoubled],
      ['invariant breaks', f.invariantBreaks],
      ['stuck', f.stuck],
      ['mismatches', f.mismatches],
    ] as const) {
      for (const line of list.slice(0, 20)) lines.push(`  ${name}: ${line}`);
      if (list.length > 20) lines.push(`  ${name}: … ${list.length - 20} more in the JSON`);
    }
    if (f.followedAnswers.length > 0)
      lines.push(
        `  (${f.followedAnswers.length} outcome(s) followed the answer: a fault moved a request past its deadline)`,
      );
  }
  // Moves wait for referrals registered moments before; while outages hold every signup's answer there may be none.
  if (r.referrals > 0 && !r.eventsByKind.term_move)
    lines.push('  (no term move was sent: no referral was registered recently enough when the moves were due)');
  if (r.unplannedExits.length > 0)
    lines.push(`  unplanned exits (restarted): ${r.unplannedExits.map((e) => `${e.process} ${e.how}`).join(', ')}`);
  if (r.error) lines.push(`  the run did not complete: ${r.error.split('\n')[0]}`);
  lines.push(r.passed ? 'PASSED: every column that must be 0 is 0' : 'FAILED');
  return lines.join('\n');
}
