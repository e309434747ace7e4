import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let dir: string;
let phasesFile: string;

/** `npm run bench:profile` as a reader runs it, over profiles of a process that worked in one phase and slept in none. */
const profileCli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', 'scripts/bench/profile.ts', ...args], { encoding: 'utf8' });

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bench-profile-cli-'));
  // a file beside the profiles that is none, and a result with phases but no bounds
  await writeFile(path.join(dir, 'not-a-profile.json'), JSON.stringify({ footprint: { phases: [{ phase: 'x' }] } }));
  // a profiled process that keeps its one core busy for 300 ms and prints the phase's bounds on its monotonic clock
  const { stdout } = await run(process.execPath, [
    '--cpu-prof',
    `--cpu-prof-dir=${path.join(dir, 'profiles')}`,
    '-e',
    `const now = () => Number(process.hrtime.bigint() / 1000n);
     const from = now(); let x = 0; while (now() - from < 300_000) x += Math.sqrt(x + 1);
     console.log(JSON.stringify({ from, to: now() }));`,
  ]);
  const busy = JSON.parse(stdout) as { from: number; to: number };
  phasesFile = path.join(dir, 'run.json');
  await writeFile(
    phasesFile,
    JSON.stringify({
      footprint: {
        phases: [
          { phase: 'busy', monotonicMicros: busy },
          // a phase of another run: no profile here covers it
          { phase: 'elsewhere', monotonicMicros: { from: busy.to + 1e9, to: busy.to + 2e9 } },
          { phase: 'unbounded' },
        ],
      },
    }),
  );
}, 60_000);
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('npm run bench:profile', () => {
  it('given the profiles of a run and its phases, then it writes each thread busy in the phase it worked in, and warns of the phase none covers', async () => {
    const out = path.join(dir, 'out');

    const { stdout, stderr } = await profileCli(path.join(dir, 'profiles'), '--phases', phasesFile, '--out', out);

    expect(stdout).toMatch(/main thread of process \d+/);
    expect(stderr).toContain('no profile in');
    expect(stderr).toContain('covers the phase "elsewhere"');
    const [written] = await readdir(out);
    expect(written).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-cpu-profile\.json$/);
    const summary = JSON.parse(await readFile(path.join(out, written!), 'utf8')) as {
      format: string;
      phasesFrom: string;
      threads: Array<{ thread: string; busySeconds: number; phases: Array<{ phase: string; busySeconds: number }> }>;
    };
    expect(summary.format).toBe('cpu-profile/1');
    expect(summary.phasesFrom).toBe('run.json');
    expect(summary.threads).toHaveLength(1);
    const [main] = summary.threads;
    expect(main!.thread).toBe('main thread');
    expect(main!.phases.map((p) => p.phase)).toEqual(['busy', 'elsewhere']);
    // its 300 ms of work, give or take a sample; nothing outside the run
    expect(main!.phases[0]!.busySeconds).toBeGreaterThan(0.25);
    expect(main!.phases[0]!.busySeconds).toBeLessThanOrEqual(main!.busySeconds);
    expect(main!.phases[1]!.busySeconds).toBe(0);
  });

  it.each([
    { given: 'a top of 0', args: () => [path.join(dir, 'profiles'), '--top', '0'], says: '--top: 1 to 200, not 0' },
    { given: 'no folder', args: () => [], says: 'usage: npm run bench:profile -- DIR' },
    {
      given: 'a result without phase bounds',
      args: () => [path.join(dir, 'profiles'), '--phases', path.join(dir, 'not-a-profile.json')],
      says: 'has no phases with their bounds',
    },
  ])('given $given, then it refuses with what to give and writes nothing', async ({ args, says }) => {
    const out = path.join(dir, 'refused');

    const failed = await profileCli(...args(), '--out', out).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );

    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toContain(says);
    await expect(readdir(out)).rejects.toThrow();
  });

  it('given a folder without profiles, then it says so and writes nothing', async () => {
    const failed = await profileCli(dir, '--out', path.join(dir, 'none')).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );

    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toContain(`no .cpuprofile in ${dir}`);
    await expect(readdir(path.join(dir, 'none'))).rejects.toThrow();
  });
});
