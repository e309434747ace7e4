/**
 * `npm run bench:profile -- DIR [--top N] [--out DIR]`
 *
 * Where the service's CPU went in a benchmark run made with `--cpu-prof DIR`: for each thread's profile in DIR, its
 * busy share, the time by package, project folder, Node and V8, and the functions that took the most, by their own time
 * and with what they called. Prints it and writes the same to bench/results/<date>-cpu-profile.json. Run it on the
 * finished run's folder; it reads the profiles only.
 */
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarizeProfile, threadOf, type CpuProfile, type FunctionTime } from './cpu-profile';
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

const threads = [];
for (const file of files) {
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  const summary = summarizeProfile(profile, top);
  const { pid, thread } = threadOf(file, summary);
  threads.push({ file, pid, thread, ...summary });
  console.log(
    [
      `${file}: ${thread}${pid === null ? '' : ` of process ${pid}`}, ${summary.seconds.toFixed(1)} s, busy ` +
        `${summary.busySeconds.toFixed(1)} s (${((100 * summary.busySeconds) / Math.max(summary.seconds, 1e-9)).toFixed(0)}%)`,
      '  by group: own time, share of busy, with what it called',
      ...summary.groups
        .slice(0, top)
        .map(
          (group) =>
            `  ${seconds(group.seconds)} s  ${(100 * group.shareOfBusy).toFixed(1).padStart(5)}%  ` +
            `${seconds(group.totalSeconds)} s  ${group.group}`,
        ),
      ...listed('functions by own time', summary.topSelf),
      ...listed('functions with what they called', summary.topTotal),
      '',
    ].join('\n'),
  );
}

await mkdir(outDir, { recursive: true });
const out = path.join(outDir, `${resultStamp(new Date())}-cpu-profile.json`);
await writeFile(
  out,
  `${JSON.stringify({ format: `cpu-profile/${RESULT_FORMAT.cpuProfile}`, profiles: dir, top, threads }, null, 2)}\n`,
);
console.log(`written to ${path.relative(process.cwd(), out)}`);
