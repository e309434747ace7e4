import { describe, expect, it } from 'vitest';
import { frameGroup, summarizeProfile, threadOf, type CpuProfile } from '../../scripts/bench/cpu-profile';

const frame = (id: number, functionName: string, url: string, children?: number[]) => ({
  id,
  callFrame: { functionName, url, lineNumber: 9 },
  ...(children ? { children } : {}),
});

// root → idle, the collector, kysely → pg, and a project function that calls itself
const profile: CpuProfile = {
  nodes: [
    frame(1, '(root)', '', [2, 3, 4, 5]),
    frame(2, '(idle)', ''),
    frame(3, '(garbage collector)', ''),
    frame(4, 'executeQuery', 'file:///app/node_modules/kysely/dist/esm/driver.js', [6]),
    frame(6, 'query', 'file:///app/node_modules/pg/lib/client.js'),
    frame(5, 'register', 'file:///app/activities/referrals.ts', [7]),
    frame(7, 'register', 'file:///app/activities/referrals.ts'),
  ],
  startTime: 1_000_000,
  // samples last 5, 1, 1, 1, 2 and (to the profile's end) 1 ms
  samples: [2, 4, 6, 6, 7, 3],
  timeDeltas: [0, 5000, 1000, 1000, 1000, 2000],
  endTime: 1_000_000 + 10_000 + 1000,
};

describe("a thread's CPU, from its profile", () => {
  it('given samples, when summarized, then idle is apart and each group has its own time and its time with what it called', () => {
    const summary = summarizeProfile(profile);
    expect(summary.seconds).toBeCloseTo(0.011);
    expect(summary.busySeconds).toBeCloseTo(0.006);
    const groups = Object.fromEntries(summary.groups.map((g) => [g.group, [g.seconds, g.totalSeconds]]));
    expect(groups).toEqual({
      pg: [0.002, 0.002],
      'project: activities': [0.002, 0.002],
      kysely: [0.001, 0.003],
      'V8: garbage collector': [0.001, 0.001],
    });
    expect(summary.groups.map((g) => g.group)).not.toContain('idle');
  });

  it('given a function that calls itself, when summarized, then a sample counts once toward its time with what it called', () => {
    const summary = summarizeProfile(profile);
    const register = summary.topTotal.find((fn) => fn.name === 'register');
    expect(register).toMatchObject({ where: 'activities/referrals.ts:10', seconds: 0.002 });
    expect(summary.topTotal.find((fn) => fn.name === 'executeQuery')?.seconds).toBeCloseTo(0.003);
    expect(summary.topSelf[0]).toMatchObject({ name: expect.stringMatching(/^(query|register)$/), seconds: 0.002 });
  });

  it('given a top of one, when summarized, then each list keeps only the largest', () => {
    const summary = summarizeProfile(profile, 1);
    expect(summary.topSelf).toHaveLength(1);
    expect(summary.topTotal).toHaveLength(1);
  });

  it("given frames' urls, when grouped, then packages, Node, V8, the workflow bundle and the project's folders are told apart", () => {
    const root = '/srv/engine';
    expect(frameGroup('f', 'file:///srv/engine/node_modules/@temporalio/worker/lib/x.js', root)).toBe(
      '@temporalio/worker',
    );
    expect(frameGroup('f', '/srv/engine/node_modules/a/node_modules/b/index.js', root)).toBe('b');
    expect(frameGroup('f', 'node:internal/timers', root)).toBe('node');
    expect(frameGroup('(program)', '', root)).toBe('V8: native and compiler');
    expect(frameGroup('writev', '', root)).toBe('native');
    expect(frameGroup('f', 'file:///srv/engine/workflow-bundle-76a07b83.js', root)).toBe('workflow bundle');
    expect(frameGroup('f', 'file:///srv/engine/db/referrals.ts', root)).toBe('project: db');
    expect(frameGroup('f', 'file:///elsewhere/x.js', root)).toBe('other');
  });

  it("given a profile's file name, when read, then the main thread and a workflow thread are named", () => {
    const summary = summarizeProfile(profile);
    expect(threadOf('CPU.20261127.011758.25866.0.001.cpuprofile', summary)).toEqual({ pid: 25866, thread: 'main' });
    const workflowThread = {
      ...summary,
      topTotal: [
        { name: 'activate', where: '@temporalio/worker/lib/workflow/vm-shared.js:342', group: 'x', seconds: 1 },
      ],
    };
    expect(threadOf('/d/CPU.20261127.011809.25866.2.003.cpuprofile', workflowThread)).toEqual({
      pid: 25866,
      thread: 'workflow thread 2',
    });
    expect(threadOf('renamed.cpuprofile', summary)).toEqual({ pid: null, thread: 'worker thread' });
  });
});
