/**
 * `npm run bench:profile -- DIR [--phases RESULT] [--top N] [--out DIR]`
 *
 * Where the service's CPU went in a benchmark run made with `--cpu-prof DIR`: for each thread's profile in DIR, its
 * busy share, the time by package, project folder, Node and native work, and the functions that took the most, by
 * their own time and with what they called. Prints it and writes the same to bench/results/<date>-cpu-profile.json,
 * dated by the profiles (the run's start, to within its start-up), so it sorts beside the run's own result. With
 * `--phases` (the run's result file), each thread is also read phase by phase: the phases' bounds are on the clock the
 * profiles are stamped with. Reads files only.
 */
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  profileTakenAt,
  profileThread,
  summarizeProfile,
  threadName,
  type CpuProfile,
  type FunctionTime,
} from './cpu-profile';
import { RESULT_FORMAT, resultStamp } from './report';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '15' }, out: { type: 'string' }, phases: { type: 'string' } },
});
const top = Number(values.top);
if (positionals.length !== 1)
  throw new Error('usage: npm run bench:profile -- DIR [--phases RESULT] [--top N] [--out DIR]');
if (!Number.isSafeInteger(top) || top < 1 || top > 200) throw new Error(`--top: 1 to 200, not ${values.top}`);
const dir = path.resolve(positionals[0]!);
const outDir = path.resolve(values.out ?? path.join(ROOT, 'bench/results'));

interface Phase {
  phase: string;
  monotonicMicros?: { from: number; to: number };
}
let phases: Array<Required<Phase>> = [];
if (values.phases !== undefined) {
  const result = JSON.parse(await readFile(values.phases, 'utf8')) as { footprint?: { phases?: Phase[] } };
  const listed = result.footprint?.phases ?? [];
  phases = listed.filter((p): p is Required<Phase> => p.monotonicMicros !== undefined);
  if (phases.length === 0)
    throw new Error(`${values.phases} has no phases with their bounds (a result of npm run bench since they are kept)`);
}
const PHASE_TOP = Math.min(top, 5);

const listing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw new Error(`no folder ${dir}`);
  throw error;
});
const files = listing.filter((name) => name.endsWith('.cpuprofile')).sort();
if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);

const seconds = (value: number) => value.toFixed(1).padStart(7);
const listed = (title: string, functions: FunctionTime[]) => [
  `  ${title}`,
  ...functions.map((fn) => `  ${seconds(fn.seconds)} s  ${fn.name}  ${fn.where}  [${fn.group}]`),
];

const summaries = [];
for (const file of files) {
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  summaries.push({
    file,
    ...profileThread(file),
    ...summarizeProfile(profile, top),
    phases: phases.map(({ phase, monotonicMicros }) => {
      const { seconds, busySeconds, groups, topSelf } = summarizeProfile(profile, PHASE_TOP, monotonicMicros);
      return { phase, seconds, busySeconds, groups: groups.slice(0, PHASE_TOP), topSelf };
    }),
  });
}
// a result of another run, or profiles of another, would read as phases where nothing ran
for (const { phase } of phases)
  if (!summaries.some((s) => s.phases.some((p) => p.phase === phase && p.seconds > 0)))
    console.error(`warning: no profile in ${dir} covers the phase "${phase}": are they of the run ${values.phases}?`);
const workerProcesses = new Set(summaries.filter((s) => s.code.workflows && s.pid !== undefined).map((s) => s.pid));
const threads = summaries.map(({ pid, threadId, ...summary }) => ({
  pid: pid ?? null,
  thread: threadName(threadId ?? null, summary.code, pid !== undefined && workerProcesses.has(pid)),
  ...summary,
}));
for (const { file, pid, thread, ...summary } of threads) {
  const busyShare = (100 * summary.busySeconds) / Math.max(summary.seconds, 1e-9);
  console.log(
    [
      `${file}: ${thread}${pid === null ? '' : ` of process ${pid}`}, ${summary.seconds.toFixed(1)} s, busy ` +
        `${summary.busySeconds.toFixed(1)} s (${busyShare.toFixed(0)}%); ${summary.samples.count} samples, ` +
        `${summary.samples.meanIntervalMs.toFixed(2)} ms apart on average (at most ${summary.samples.maxIntervalMs.toFixed(1)})` +
        (summary.samples.unknown > 0 ? `, ${summary.samples.unknown} of an unknown node left out` : ''),
      '  by group: own time, its share of the busy time, time on the stack',
      ...summary.groups
        .slice(0, top)
        .map(
          (group) =>
            `  ${seconds(group.seconds)} s  ${(100 * group.shareOfBusy).toFixed(1).padStart(5)}%  ` +
            `${seconds(group.onStackSeconds)} s  ${group.group}`,
        ),
      ...listed('functions by own time', summary.topSelf),
      ...listed('functions with what they called', summary.topTotal),
      ...(summary.phases.length > 0
        ? ['  by phase: busy, then the groups and the functions with the most own time']
        : []),
      ...summary.phases.flatMap((phase) => [
        `  ${phase.phase}: ${phase.seconds.toFixed(1)} s, busy ${phase.busySeconds.toFixed(1)} s ` +
          `(${((100 * phase.busySeconds) / Math.max(phase.seconds, 1e-9)).toFixed(0)}%)`,
        // a phase the thread slept through has nothing to list
        ...(phase.groups.length === 0
          ? []
          : [
              `      ${phase.groups.map((g) => `${g.group} ${g.seconds.toFixed(1)}`).join(', ')}`,
              `      ${phase.topSelf.map((fn) => `${fn.name} ${fn.seconds.toFixed(1)}`).join(', ')}`,
            ]),
      ]),
      '',
    ].join('\n'),
  );
}

const takenAt = files.map(profileTakenAt).find((date) => date !== null) ?? new Date();
const shownDir = path.relative(ROOT, dir).startsWith('..') ? dir : path.relative(ROOT, dir);
await mkdir(outDir, { recursive: true });
const out = path.join(outDir, `${resultStamp(takenAt)}-cpu-profile.json`);
await writeFile(
  out,
  `${JSON.stringify(
    {
      format: `cpu-profile/${RESULT_FORMAT.cpuProfile}`,
      profiles: shownDir,
      phasesFrom: values.phases === undefined ? null : path.basename(values.phases),
      top,
      threads,
    },
    null,
    2,
  )}\n`,
);
console.log(`written to ${path.relative(process.cwd(), out)}`);
