import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../scripts/bench/profile.ts', import.meta.url));
let dir: string | undefined;
let profiles: string;
let phasesFile: string;

/** `npm run bench:profile` as a reader runs it. */
const profileCli = (...args: string[]) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8' });
/** How a refused run ended: its exit code and what it said, or null if it was not refused. */
const refusal = (...args: string[]) =>
  profileCli(...args).then(
    () => null,
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bench-profile-cli-'));
  profiles = path.join(dir, 'profiles');
  // a profiled process that keeps its core busy for 300 ms, then sleeps 300 ms on a timer, and prints the bounds of
  // both on its monotonic clock, as the benchmark keeps its phases'
  const { stdout } = await run(process.execPath, [
    '--cpu-prof',
    `--cpu-prof-dir=${profiles}`,
    '-e',
    `const now = () => Number(process.hrtime.bigint() / 1000n);
     const from = now(); let x = 0; while (now() - from < 300_000) x += Math.sqrt(x + 1);
     const busy = { from, to: now() };
     setTimeout(() => console.log(JSON.stringify({ busy, asleep: { from: busy.to, to: now() } })), 300);`,
  ]);
  const bounds = JSON.parse(stdout) as Record<'busy' | 'asleep', { from: number; to: number }>;
  // beside the profile, a file that is none
  await writeFile(path.join(profiles, 'notes.txt'), 'not a profile');
  phasesFile = path.join(dir, 'run.json');
  await writeFile(
    phasesFile,
    JSON.stringify({
      footprint: {
        phases: [
          { phase: 'busy', monotonicMicros: bounds.busy },
          { phase: 'asleep', monotonicMicros: bounds.asleep },
          // a phase of another run: no profile here covers it
          { phase: 'elsewhere', monotonicMicros: { from: bounds.asleep.to + 1e9, to: bounds.asleep.to + 2e9 } },
          // a phase recorded before phases kept their bounds
          { phase: 'unbounded' },
        ],
      },
    }),
  );
  await writeFile(path.join(dir, 'no-bounds.json'), JSON.stringify({ footprint: { phases: [{ phase: 'x' }] } }));
}, 60_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run bench:profile', () => {
  it("given a run's profile and its phases, then it writes the thread busy in the phase it worked in and idle in the one it slept in, and warns of the phase no profile covers", async () => {
    const out = path.join(dir!, 'out');

    const { stdout, stderr } = await profileCli(profiles, '--phases', phasesFile, '--out', out);

    expect(stdout).toMatch(/main thread of process \d+/);
    expect(stderr.match(/warning:/g)).toHaveLength(1);
    expect(stderr).toContain('covers the phase "elsewhere"');
    const [written] = await readdir(out);
    expect(written).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z-cpu-profile\.json$/);
    const summary = JSON.parse(await readFile(path.join(out, written!), 'utf8')) as {
      format: string;
      phasesFrom: string;
      threads: Array<{
        thread: string;
        seconds: number;
        busySeconds: number;
        phases: Array<{ phase: string; seconds: number; busySeconds: number }>;
      }>;
    };
    expect(summary.format).toBe('cpu-profile/1');
    expect(summary.phasesFrom).toBe('run.json');
    expect(summary.threads).toHaveLength(1);
    const [main] = summary.threads;
    expect(main!.thread).toBe('main thread');
    expect(main!.phases.map((p) => p.phase)).toEqual(['busy', 'asleep', 'elsewhere']);
    const [busy, asleep, elsewhere] = main!.phases;
    expect(busy!.busySeconds).toBeGreaterThan(0.25);
    expect(busy!.busySeconds).toBeLessThan(0.4);
    expect(asleep!.seconds).toBeGreaterThan(0.25);
    expect(asleep!.busySeconds).toBeLessThan(0.05);
    expect(elsewhere).toMatchObject({ seconds: 0, busySeconds: 0 });
    expect(main!.busySeconds).toBeLessThan(main!.seconds);
  });

  it.each([
    { given: 'a top of 0', args: () => [profiles, '--top', '0'], says: '--top: 1 to 200, not 0' },
    { given: 'no folder', args: () => [], says: 'usage: npm run bench:profile -- DIR' },
    { given: 'a folder that is not there', args: () => [path.join(dir!, 'gone')], says: 'no folder ' },
    { given: 'a folder without profiles', args: () => [dir!], says: 'no .cpuprofile in /' },
    {
      given: 'a result without phase bounds',
      args: () => [profiles, '--phases', path.join(dir!, 'no-bounds.json')],
      says: 'has no phases with their bounds',
    },
  ])('given $given, then it refuses with what to give and writes nothing', async ({ given, args, says }) => {
    const out = path.join(dir!, `refused ${given}`);

    const refused = await refusal(...args(), '--out', out);

    expect(refused).not.toBeNull();
    expect(refused!.code).toBe(1);
    expect(refused!.stderr).toContain(says);
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
