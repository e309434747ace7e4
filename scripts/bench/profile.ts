/**
 * `npm run bench:profile -- DIR [--top N] [--out DIR]`
 *
 * Where the service's CPU went in a benchmark run made with `--cpu-prof DIR`: for each thread's profile in DIR, its
 * busy share, the time by package, project folder, Node and native work, and the functions that took the most, by
 * their own time and with what they called. Prints it and writes the same to bench/results/<date>-cpu-profile.json,
 * dated by the profiles (the run's start, to within its start-up), so it sorts beside the run's own result. Reads the
 * profiles only.
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
  options: { top: { type: 'string', default: '15' }, out: { type: 'string' } },
});
const top = Number(values.top);
if (positionals.length !== 1) throw new Error('usage: npm run bench:profile -- DIR [--top N] [--out DIR]');
if (!Number.isSafeInteger(top) || top < 1 || top > 200) throw new Error(`--top: 1 to 200, not ${values.top}`);
const dir = path.resolve(positionals[0]!);
const outDir = path.resolve(values.out ?? path.join(ROOT, 'bench/results'));

const files = (await readdir(dir)).filter((name) => name.endsWith('.cpuprofile')).sort();
if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);

const seconds = (value: number) => value.toFixed(1).padStart(7);
const listed = (title: string, functions: FunctionTime[]) => [
  `  ${title}`,
  ...functions.map((fn) => `  ${seconds(fn.seconds)} s  ${fn.name}  ${fn.where}  [${fn.group}]`),
];

const summaries = [];
for (const file of files) {
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  summaries.push({ file, ...profileThread(file), ...summarizeProfile(profile, top) });
}
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
  `${JSON.stringify({ format: `cpu-profile/${RESULT_FORMAT.cpuProfile}`, profiles: shownDir, top, threads }, null, 2)}\n`,
);
console.log(`written to ${path.relative(process.cwd(), out)}`);
