/**
 * Where one thread's CPU went, from a V8 `.cpuprofile` (what `node --cpu-prof` writes, and `npm run bench --
 * --cpu-prof DIR` for the service): its busy share (wall time not idle), the time spent in each package, the
 * project's folders, Node's own code, the garbage collector and native work, and the functions that took the most, by
 * their own time and with what they called. Each sample counts for the time until the next one, in timestamp order (as DevTools' Performance
 * panel counts it, not the Profiler panel's equal share per sample: V8 samples less often while the thread is busy,
 * so equal shares would understate busy time), and the collector's time is counted in the totals of the stack it
 * interrupted.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a `.cpuprofile` this reads (the Chrome DevTools protocol's `Profiler.Profile`). */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  /** the function's name, `(anonymous)` when it has none */
  name: string;
  /** the group its code is in and where: a package's file, the project's path, or Node's module, with the line */
  where: string;
  group: string;
  seconds: number;
}

/** What kind of code a thread ran, from every frame its profile holds: what names the thread and its process. */
export interface ThreadCode {
  /** the workflow bundle or the SDK's workflow-thread entry: the worker's workflow thread */
  workflows: boolean;
  /** Node's module-loader hooks (`--import tsx` runs them in a thread of their own) */
  moduleLoader: boolean;
  /**
   * Hono's router on the stack for at least 1% of the busy time: the process serves the API (a worker process loads
   * Hono's server for its own endpoints, and barely runs it)
   */
  api: boolean;
}

export interface ProfileSummary {
  /** wall time the profile covers */
  seconds: number;
  /**
   * wall time not idle: the thread running JavaScript, the collector or native work, or ready to and waiting for a
   * core (a gap between samples counts for the sample before it). Not CPU time: two threads' busy times do not add up
   * to their process's CPU.
   */
  busySeconds: number;
  /** how often V8 sampled; samples of a node the profile does not list are counted apart and left out */
  samples: { count: number; meanIntervalMs: number; maxIntervalMs: number; unknown: number };
  /**
   * every group that was on a stack, largest own time first, idle left out: its own time, its share of the busy
   * time, and the time it was anywhere on the stack (for a group every stack passes through, such as Node's event
   * loop, that is nearly all the busy time and says nothing of its cost)
   */
  groups: Array<{ group: string; seconds: number; shareOfBusy: number; onStackSeconds: number }>;
  /** functions by their own time */
  topSelf: FunctionTime[];
  /** functions by their time with everything they called (a recursive function counted once per sample) */
  topTotal: FunctionTime[];
  code: ThreadCode;
}

const IDLE = '(idle)';
const GARBAGE_COLLECTOR = '(garbage collector)';
const PROGRAM = '(program)';
// V8's pseudo-frames: no code of anyone's, but time all the same
const V8_FRAMES = new Map([
  [GARBAGE_COLLECTOR, 'V8: garbage collector'],
  // native work with no JavaScript on the stack: Node's C++ and libuv callbacks, the compiler, stacks V8 could not walk
  [PROGRAM, 'native, no JavaScript stack (program)'],
]);
const PSEUDO_FRAMES = new Set([IDLE, GARBAGE_COLLECTOR, PROGRAM, '(root)']);

const fileOf = (url: string) => (url.startsWith('file://') ? fileURLToPath(url) : url);

/**
 * The checkout a profile was taken in, which need not be the one reading it: the folder most of its packages' files
 * sit under (`<root>/node_modules/…`, the first `node_modules` of each path, so nested copies count for their root).
 */
export function projectRootOf(profile: CpuProfile): string | null {
  const roots = new Map<string, number>();
  for (const { callFrame } of profile.nodes) {
    const file = fileOf(callFrame.url);
    const at = file.indexOf('/node_modules/');
    if (at > 0) roots.set(file.slice(0, at), (roots.get(file.slice(0, at)) ?? 0) + 1);
  }
  return [...roots].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

/**
 * The group a frame's code belongs to: the package under the last `node_modules` (scoped ones by scope and name),
 * Node's own modules, V8's pseudo-frames, native code with no script, the workflow bundle (the workflows, the SDK's
 * workflow side and what they import, evaluated in the worker's workflow context), or the project's top folder.
 */
export function frameGroup(functionName: string, url: string, projectRoot: string | null): string {
  const pseudo = V8_FRAMES.get(functionName);
  if (pseudo !== undefined) return pseudo;
  if (functionName === IDLE) return 'idle';
  if (url === '') return 'native';
  if (url.startsWith('node:')) return 'node';
  if (url.startsWith('wasm://')) return 'wasm';
  if (url.startsWith('evalmachine.')) return 'workflow context (evalmachine)';
  const file = fileOf(url);
  if (/\/workflow-bundle-[0-9a-f]+\.js$/.test(file)) return 'workflow bundle';
  const inPackage = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (inPackage) return inPackage[1]!;
  // code compiled from a string under a name of its own (vm.Script, new Function): no file to place it by
  if (!file.startsWith('/')) return 'script without a path';
  if (projectRoot === null) return 'other';
  const relative = path.relative(projectRoot, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return 'other';
  const folder = relative.split(path.sep)[0]!;
  return relative.includes(path.sep) ? `project: ${folder}` : `project: ${relative}`;
}

function frameWhere(url: string, lineNumber: number, projectRoot: string | null): string {
  if (url === '') return '';
  const file = fileOf(url);
  // a package's copy is told apart from another's by the package it is nested in
  const inPackage = /\/node_modules\/(.*)/.exec(file);
  const shown = inPackage
    ? inPackage[1]!
    : file.startsWith('/') && projectRoot !== null
      ? path.relative(projectRoot, file)
      : file;
  return `${shown}:${lineNumber + 1}`;
}

function threadCode(profile: CpuProfile, honoOnStackShare: number): ThreadCode {
  const urls = profile.nodes.map((node) => node.callFrame.url);
  const any = (test: (url: string) => boolean) => urls.some(test);
  return {
    workflows: any(
      (url) =>
        /\/workflow-bundle-[0-9a-f]+\.js$/.test(url) ||
        url.includes('/@temporalio/worker/lib/workflow/workflow-worker-thread.js'),
    ),
    moduleLoader: any((url) => url === 'node:internal/modules/esm/worker'),
    api: honoOnStackShare >= 0.01,
  };
}

/**
 * The summary of a profile, or of the part of it within `window` (microseconds on the profile's clock, the machine's
 * monotonic one: a benchmark phase's bounds), each sample counted where it was taken.
 */
export function summarizeProfile(profile: CpuProfile, top = 15, window?: { from: number; to: number }): ProfileSummary {
  const projectRoot = projectRootOf(profile);
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = new Map<number, string>();
  const described = new Map<string, Omit<FunctionTime, 'seconds'> & { pseudo: string | null }>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = frameWhere(url, lineNumber, projectRoot);
    const key = `${name}\u0000${where}`;
    keyOf.set(node.id, key);
    if (!described.has(key))
      described.set(key, {
        name,
        where,
        group: frameGroup(functionName, url, projectRoot),
        pseudo: PSEUDO_FRAMES.has(functionName) ? functionName : null,
      });
  }
  // the frames of a stack, leaf first, the root left out
  const stackOf = (leaf: number): string[] => {
    const frames: string[] = [];
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const frame = keyOf.get(id);
      if (frame && described.get(frame)!.pseudo !== '(root)') frames.push(frame);
    }
    return frames;
  };

  // Samples in timestamp order (V8 may record one a few microseconds before the one it follows), each lasting until
  // the next, the last until the profile ends.
  let at = profile.startTime;
  const timed = profile.samples.map((node, i) => ({ node, at: (at += profile.timeDeltas[i] ?? 0) }));
  timed.sort((a, b) => a.at - b.at);
  const durations = timed.map((sample, i) => Math.max(0, (timed[i + 1]?.at ?? profile.endTime) - sample.at));

  const selfMicros = new Map<string, number>();
  const totalMicros = new Map<string, number>();
  const groupMicros = new Map<string, number>();
  const groupOnStackMicros = new Map<string, number>();
  let idleMicros = 0;
  let sampledMicros = 0;
  let unknown = 0;
  let interruptedStack: string[] = [];
  const from = Math.max(profile.startTime, window?.from ?? -Infinity);
  const to = Math.min(profile.endTime, window?.to ?? Infinity);
  for (const [i, { node, at: sampledAt }] of timed.entries()) {
    // a sample's time counts where it falls within the window: one that straddles a bound counts in part
    const delta = Math.max(0, Math.min(sampledAt + durations[i]!, to) - Math.max(sampledAt, from));
    if (delta === 0) continue;
    const key = keyOf.get(node);
    const fn = key === undefined ? undefined : described.get(key);
    if (!key || !fn) {
      unknown++;
      continue;
    }
    sampledMicros += delta;
    if (fn.pseudo === IDLE) {
      idleMicros += delta;
      interruptedStack = [];
      continue;
    }
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta);
    groupMicros.set(fn.group, (groupMicros.get(fn.group) ?? 0) + delta);
    let frames = stackOf(node);
    // the collector ran for the JavaScript the sample before it caught, if any
    if (fn.pseudo === GARBAGE_COLLECTOR) frames = [...frames, ...interruptedStack];
    else interruptedStack = fn.pseudo === null ? frames : [];
    const onStack = new Set(frames);
    for (const frame of onStack) totalMicros.set(frame, (totalMicros.get(frame) ?? 0) + delta);
    for (const group of new Set([...onStack].map((frame) => described.get(frame)!.group)))
      groupOnStackMicros.set(group, (groupOnStackMicros.get(group) ?? 0) + delta);
  }

  const busyMicros = sampledMicros - idleMicros;
  const ranked = (times: Map<string, number>): FunctionTime[] =>
    [...times]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, micros]) => {
        const { name, where, group } = described.get(key)!;
        return { name, where, group, seconds: micros / 1e6 };
      });
  const inWindow = timed.filter((sample) => sample.at >= from && sample.at < to);
  const intervals = inWindow.slice(1).map((sample, i) => sample.at - inWindow[i]!.at);
  return {
    seconds: Math.max(0, to - from) / 1e6,
    busySeconds: busyMicros / 1e6,
    samples: {
      count: inWindow.length,
      meanIntervalMs: intervals.length > 0 ? intervals.reduce((sum, x) => sum + x, 0) / intervals.length / 1000 : 0,
      maxIntervalMs: intervals.reduce((max, x) => Math.max(max, x), 0) / 1000,
      unknown,
    },
    groups: [...groupOnStackMicros]
      .map(([group, onStack]) => ({
        group,
        seconds: (groupMicros.get(group) ?? 0) / 1e6,
        shareOfBusy: busyMicros > 0 ? (groupMicros.get(group) ?? 0) / busyMicros : 0,
        onStackSeconds: onStack / 1e6,
      }))
      .sort((a, b) => b.seconds - a.seconds || b.onStackSeconds - a.onStackSeconds),
    topSelf: ranked(selfMicros),
    topTotal: ranked(totalMicros),
    code: threadCode(profile, busyMicros > 0 ? (groupOnStackMicros.get('hono') ?? 0) / busyMicros : 0),
  };
}

/** Node's name for a profile file (`CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`): its process and thread. */
export function profileThread(fileName: string): { pid: number; threadId: number } | null {
  const parts = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(path.basename(fileName));
  return parts ? { pid: Number(parts[1]), threadId: Number(parts[2]) } : null;
}

/**
 * What to call a thread: a main thread (thread 0) by its process's part, the API (Hono's code ran in it) and the
 * worker (a workflow thread ran beside it; the API loads the worker's package too, for its connection), or both, as
 * `npm start` runs them; another thread by the code it ran: the worker's workflow thread, or the module loader's.
 */
export function threadName(threadId: number | null, code: ThreadCode, workflowThreadInProcess: boolean): string {
  if (threadId === null) return 'unknown thread';
  if (threadId === 0) {
    const part =
      code.api && workflowThreadInProcess
        ? ' (API and worker)'
        : code.api
          ? ' (API)'
          : workflowThreadInProcess
            ? ' (worker)'
            : '';
    return `main thread${part}`;
  }
  const kind = code.workflows ? 'workflow thread' : code.moduleLoader ? 'module loader thread' : 'thread';
  return `${kind} ${threadId}`;
}

/** The time Node put in a profile's file name (`CPU.20261127.011758…`, the machine's local time), as a Date. */
export function profileTakenAt(fileName: string): Date | null {
  const parts = /^CPU\.(\d{4})(\d{2})(\d{2})\.(\d{2})(\d{2})(\d{2})\./.exec(path.basename(fileName));
  if (!parts) return null;
  const [year, month, day, hour, minute, second] = parts.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return new Date(year, month - 1, day, hour, minute, second);
}
