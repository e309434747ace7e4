import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isTemporal } from '../../scripts/bench/cpu';
import {
  frameGroup,
  profileTakenAt,
  projectRootOf,
  profileThread,
  summarizeProfile,
  threadName,
  type CpuProfile,
} from '../../scripts/bench/cpu-profile';

const frame = (id: number, functionName: string, url: string, children?: number[]) => ({
  id,
  callFrame: { functionName, url, lineNumber: 9 },
  ...(children ? { children } : {}),
});
const ROOT = 'file:///srv/my%20engine';
const protobuf = (id: number, file: string) =>
  frame(id, 'read', `${ROOT}/node_modules/@temporalio/proto/node_modules/protobufjs/src/${file}.js`);

// root → idle, the collector, kysely → pg, a project function that calls itself, Node's toString, native work, and
// (never sampled) a package nested in another
const profile: CpuProfile = {
  nodes: [
    frame(1, '(root)', '', [2, 3, 4, 5, 8, 9, 10, 11, 12]),
    frame(2, '(idle)', ''),
    frame(3, '(garbage collector)', ''),
    frame(4, 'executeQuery', `${ROOT}/node_modules/kysely/dist/esm/driver.js`, [6]),
    frame(6, 'query', `${ROOT}/node_modules/pg/lib/client.js`),
    frame(5, 'register', `${ROOT}/activities/referrals.ts`, [7]),
    frame(7, 'register', `${ROOT}/activities/referrals.ts`),
    frame(8, 'toString', 'node:buffer'),
    frame(9, '(program)', ''),
    protobuf(10, 'reader'),
    protobuf(11, 'writer'),
    protobuf(12, 'util'),
  ],
  startTime: 1_000_000,
  // at +0 idle, +5000 executeQuery, +6000 query, +7000 the collector (interrupting query), +8000 register (in
  // register), +10000 toString, +10500 native, and at +10400 (recorded after the native sample) query again
  samples: [2, 4, 6, 3, 7, 8, 9, 6],
  timeDeltas: [0, 5000, 1000, 1000, 1000, 2000, 500, -100],
  endTime: 1_000_000 + 11_000,
};

describe("a thread's CPU, from its profile", () => {
  it('given samples out of order, when summarized, then each lasts until the next in time and idle is kept apart', () => {
    const summary = summarizeProfile(profile);
    expect(summary.seconds).toBeCloseTo(0.011, 9);
    expect(summary.busySeconds).toBeCloseTo(0.006, 9);
    expect(summary.samples).toMatchObject({ count: 8, unknown: 0, maxIntervalMs: 5 });
    const own = Object.fromEntries(summary.topSelf.map((fn) => [fn.name, fn.seconds]));
    expect(own).toEqual({
      register: 0.002,
      query: 0.0011,
      executeQuery: 0.001,
      '(garbage collector)': 0.001,
      '(program)': 0.0005,
      toString: 0.0004,
    });
  });

  it('given groups, when summarized, then each has its own time, its share of the busy time and its time on the stack', () => {
    const groups = Object.fromEntries(
      summarizeProfile(profile).groups.map((g) => [g.group, [g.seconds, g.shareOfBusy, g.onStackSeconds]]),
    );
    expect(groups['project: activities']).toEqual([0.002, 0.002 / 0.006, 0.002]);
    // the collector's time counts on the stack it interrupted
    expect(groups.kysely![2]).toBeCloseTo(0.0031, 9);
    expect(groups.pg![2]).toBeCloseTo(0.0021, 9);
    expect(groups.node![0]).toBeCloseTo(0.0004, 9);
    expect(groups['native, no JavaScript stack (program)']![0]).toBeCloseTo(0.0005, 9);
    expect(groups).not.toHaveProperty('idle');
    expect(groups).not.toHaveProperty('protobufjs');
  });

  it('given a function that calls itself, when summarized, then a sample counts once toward its total, and the root is no function', () => {
    const { topTotal } = summarizeProfile(profile);
    expect(topTotal[0]).toMatchObject({ name: 'executeQuery', where: 'kysely/dist/esm/driver.js:10' });
    expect(topTotal[0]!.seconds).toBeCloseTo(0.0031, 9);
    expect(topTotal.find((fn) => fn.name === 'register')).toMatchObject({
      where: 'activities/referrals.ts:10',
      group: 'project: activities',
      seconds: 0.002,
    });
    expect(topTotal.map((fn) => fn.name)).not.toContain('(root)');
  });

  it("given a phase's bounds, when summarized, then only the samples taken within them count", () => {
    const phase = summarizeProfile(profile, 15, { from: 1_005_000, to: 1_008_000 });
    expect(phase.seconds).toBeCloseTo(0.003, 9);
    expect(phase.busySeconds).toBeCloseTo(0.003, 9);
    expect(phase.samples.count).toBe(3);
    expect(phase.topSelf.map((fn) => fn.name).sort()).toEqual(['(garbage collector)', 'executeQuery', 'query']);
    // a sample that straddles a bound counts for its part inside
    const straddling = summarizeProfile(profile, 15, { from: 1_005_500, to: 1_007_500 });
    expect(straddling.busySeconds).toBeCloseTo(0.002, 9);
    expect(Object.fromEntries(straddling.topSelf.map((fn) => [fn.name, fn.seconds]))).toEqual({
      query: 0.001,
      executeQuery: 0.0005,
      '(garbage collector)': 0.0005,
    });
    // bounds past the profile's own are cut to it
    expect(summarizeProfile(profile, 15, { from: 0, to: 2_000_000 }).seconds).toBeCloseTo(0.011, 9);
  });

  it("given a process's monotonic clock, when a CPU profile is taken, then its samples are stamped on the same clock", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cpu-profile-clock-'));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
        '-e',
        'console.log(Number(process.hrtime.bigint() / 1000n))',
      ]);
      const [file] = await readdir(dir);
      const taken = JSON.parse(await readFile(path.join(dir, file!), 'utf8')) as CpuProfile;
      const printedAt = Number(stdout.trim());
      expect(printedAt).toBeGreaterThanOrEqual(taken.startTime);
      expect(printedAt).toBeLessThanOrEqual(taken.endTime);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given a top of two, when summarized, then each list keeps the two largest', () => {
    const summary = summarizeProfile(profile, 2);
    expect(summary.topSelf.map((fn) => fn.name)).toEqual(['register', 'query']);
    expect(summary.topTotal.map((fn) => fn.name)).toEqual(['executeQuery', 'query']);
  });

  it('given a sample of a node the profile does not list, when summarized, then it is counted apart and left out', () => {
    const summary = summarizeProfile({ ...profile, samples: [...profile.samples.slice(0, 7), 99] });
    expect(summary.samples.unknown).toBe(1);
    expect(summary.busySeconds).toBeCloseTo(0.0059, 9);
  });

  it('given packages nested in others and a path with a space, when read, then the checkout is the folder they sit under', () => {
    expect(projectRootOf(profile)).toBe('/srv/my engine');
    expect(projectRootOf({ ...profile, nodes: [frame(1, 'f', 'node:fs')] })).toBeNull();
  });

  it.each([
    ['f', 'file:///srv/engine/node_modules/@temporalio/worker/lib/x.js', '@temporalio/worker'],
    ['f', '/srv/engine/node_modules/a/node_modules/b/index.js', 'b'],
    ['f', 'node:internal/timers', 'node'],
    ['toString', 'node:buffer', 'node'],
    ['constructor', '', 'native'],
    ['(program)', '', 'native, no JavaScript stack (program)'],
    ['writev', '', 'native'],
    ['f', 'file:///srv/engine/workflow-bundle-76a07b83.js', 'workflow bundle'],
    ['f', 'evalmachine.<anonymous>', 'workflow context (evalmachine)'],
    ['f', 'file:///srv/engine/db/referrals.ts', 'project: db'],
    ['f', 'file:///srv/engine/service.ts', 'project: service.ts'],
    ['f', 'file:///elsewhere/x.js', 'other'],
    ['f', 'generated.js', 'script without a path'],
  ])("given a frame %s at '%s', when grouped, then its group is %s", (functionName, url, group) => {
    expect(frameGroup(functionName, url, '/srv/engine')).toBe(group);
  });

  it("given a profile's file name, when read, then it gives the process and the thread", () => {
    expect(profileThread('/d/CPU.20261127.011809.25866.2.003.cpuprofile')).toEqual({ pid: 25866, threadId: 2 });
    expect(profileThread('renamed.cpuprofile')).toBeNull();
  });

  it("given a thread's code and its process, when named, then a main thread says its process's part", () => {
    const none = { workflows: false, moduleLoader: false, api: false };
    expect(threadName(0, { ...none, api: true }, true)).toBe('main thread (API and worker)');
    expect(threadName(0, { ...none, api: true }, false)).toBe('main thread (API)');
    expect(threadName(0, none, true)).toBe('main thread (worker)');
    expect(threadName(0, none, false)).toBe('main thread');
    expect(threadName(2, { ...none, workflows: true }, true)).toBe('workflow thread 2');
    expect(threadName(1, { ...none, moduleLoader: true }, true)).toBe('module loader thread 1');
    expect(threadName(3, none, true)).toBe('thread 3');
    expect(threadName(null, { ...none, api: true }, true)).toBe('unknown thread');
  });

  it("given a profile's code, when summarized, then what it ran is read from every frame, not only the top ones", () => {
    const withFrames = (...frames: CpuProfile['nodes']): CpuProfile => ({
      ...profile,
      nodes: [
        { ...profile.nodes[0]!, children: [...profile.nodes[0]!.children!, ...frames.map((f) => f.id)] },
        ...profile.nodes.slice(1),
        ...frames,
      ],
    });
    const workflowThread = withFrames(
      frame(20, 'handleRequest', `${ROOT}/node_modules/@temporalio/worker/lib/workflow/workflow-worker-thread.js`),
    );
    expect(summarizeProfile(workflowThread, 1).code).toEqual({ workflows: true, moduleLoader: false, api: false });
    const bundle = withFrames(frame(20, 'f', `${ROOT}/workflow-bundle-0a1b2c.js`));
    expect(summarizeProfile(bundle, 1).code.workflows).toBe(true);
    const withHono = withFrames(
      frame(20, 'dispatch', `${ROOT}/node_modules/hono/dist/hono-base.js`),
      frame(21, 'handleMessage', 'node:internal/modules/esm/worker'),
    );
    // loaded, never serving: not the API
    expect(summarizeProfile(withHono, 1).code).toEqual({ workflows: false, moduleLoader: true, api: false });
    // serving: the register sample (2 of 6 ms busy) is Hono's now
    const serving = { ...withHono, samples: withHono.samples.map((node) => (node === 7 ? 20 : node)) };
    expect(summarizeProfile(serving, 1).code).toEqual({ workflows: false, moduleLoader: true, api: true });
    expect(summarizeProfile(profile).code).toEqual({ workflows: false, moduleLoader: false, api: false });
  });

  it("given Node's name for a profile, when read, then it gives the time in it", () => {
    expect(profileTakenAt('/x/CPU.20261127.011758.25866.0.001.cpuprofile')).toEqual(new Date(2026, 10, 27, 1, 17, 58));
    expect(profileTakenAt('renamed.cpuprofile')).toBeNull();
  });

  it("given a process's name, when grouped, then the dev server and Temporal's own server both count as Temporal", () => {
    expect(isTemporal('temporal')).toBe(true);
    expect(isTemporal('temporal-server')).toBe(true);
    expect(isTemporal('postgres')).toBe(false);
    expect(isTemporal('temporal-sql-to')).toBe(false);
  });
});
