/**
 * Where one thread's CPU went, from a V8 `.cpuprofile` (what `node --cpu-prof` writes, and `npm run bench --
 * --cpu-prof DIR` for the service): its busy share, the time spent in each package, the project's folders, Node's
 * own code, the garbage collector and V8 itself, and the functions that took the most, by their own time and with
 * what they called. Every figure comes from the profile's samples and their time deltas, as DevTools reads them.
 */
import path from 'node:path';

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

export interface ProfileSummary {
  /** wall time the profile covers */
  seconds: number;
  /** sampled time not idle: the thread running JavaScript, the collector or V8's own work */
  busySeconds: number;
  /** per group, largest own time first, idle left out: its own time, and its time with what it called */
  groups: Array<{ group: string; seconds: number; shareOfBusy: number; totalSeconds: number }>;
  /** functions by their own time */
  topSelf: FunctionTime[];
  /** functions by their time with everything they called (a recursive function counted once per sample) */
  topTotal: FunctionTime[];
}

const IDLE = '(idle)';
// V8's pseudo-frames: no code of anyone's, but time all the same
const V8_FRAMES: Record<string, string> = {
  '(garbage collector)': 'V8: garbage collector',
  '(program)': 'V8: native and compiler',
};

const fileOf = (url: string) => (url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url);

/**
 * The checkout a profile was taken in, which need not be the one reading it: the folder most of its packages' files
 * sit under (`<root>/node_modules/…`).
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
  if (V8_FRAMES[functionName]) return V8_FRAMES[functionName];
  if (functionName === IDLE) return 'idle';
  if (url === '') return 'native';
  if (url.startsWith('node:')) return 'node';
  if (url.startsWith('wasm://')) return 'wasm';
  if (url.startsWith('evalmachine.')) return 'workflow context (evalmachine)';
  const file = fileOf(url);
  // V8 names some builtins' scripts by their source text
  if (!file.startsWith('/')) return 'native';
  if (/\/workflow-bundle-[0-9a-f]+\.js$/.test(file)) return 'workflow bundle';
  const inPackage = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (inPackage) return inPackage[1]!;
  if (projectRoot === null) return 'other';
  const relative = path.relative(projectRoot, file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) return 'other';
  const folder = relative.split(path.sep)[0]!;
  return relative.includes(path.sep) ? `project: ${folder}` : `project: ${relative}`;
}

function frameWhere(url: string, lineNumber: number, projectRoot: string | null): string {
  if (url === '') return '';
  const file = fileOf(url);
  const inPackage = /.*\/node_modules\/(.*)/.exec(file);
  const shown = inPackage
    ? inPackage[1]!
    : file.startsWith('/') && projectRoot !== null
      ? path.relative(projectRoot, file)
      : file;
  return `${shown}:${lineNumber + 1}`;
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const projectRoot = projectRootOf(profile);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = new Map<number, string>();
  const described = new Map<string, Omit<FunctionTime, 'seconds'>>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = frameWhere(url, lineNumber, projectRoot);
    const key = `${name}\u0000${where}`;
    keyOf.set(node.id, key);
    if (!described.has(key)) described.set(key, { name, where, group: frameGroup(functionName, url, projectRoot) });
  }

  const selfMicros = new Map<string, number>();
  const totalMicros = new Map<string, number>();
  const groupMicros = new Map<string, number>();
  const groupTotalMicros = new Map<string, number>();
  let idleMicros = 0;
  let sampledMicros = 0;
  // A sample's time runs until the next one (the last one's until the profile ends), as DevTools counts it.
  const lastSampleAt = profile.startTime + profile.timeDeltas.reduce((sum, delta) => sum + delta, 0);
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i + 1] ?? profile.endTime - lastSampleAt);
    const leaf = profile.samples[i]!;
    const key = keyOf.get(leaf);
    const fn = key === undefined ? undefined : described.get(key);
    if (!key || !fn) continue;
    sampledMicros += delta;
    if (fn.group === 'idle') {
      idleMicros += delta;
      continue;
    }
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + delta);
    groupMicros.set(fn.group, (groupMicros.get(fn.group) ?? 0) + delta);
    const onStack = new Set<string>();
    const groupsOnStack = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const frame = keyOf.get(id);
      if (!frame || byId.get(id)?.callFrame.functionName === '(root)') continue;
      onStack.add(frame);
      groupsOnStack.add(described.get(frame)!.group);
    }
    for (const frame of onStack) totalMicros.set(frame, (totalMicros.get(frame) ?? 0) + delta);
    for (const group of groupsOnStack) groupTotalMicros.set(group, (groupTotalMicros.get(group) ?? 0) + delta);
  }

  const busyMicros = sampledMicros - idleMicros;
  const ranked = (times: Map<string, number>): FunctionTime[] =>
    [...times]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, micros]) => ({ ...described.get(key)!, seconds: micros / 1e6 }));
  return {
    seconds: (profile.endTime - profile.startTime) / 1e6,
    busySeconds: busyMicros / 1e6,
    groups: [...groupMicros]
      .sort((a, b) => b[1] - a[1])
      .map(([group, micros]) => ({
        group,
        seconds: micros / 1e6,
        shareOfBusy: busyMicros > 0 ? micros / busyMicros : 0,
        totalSeconds: (groupTotalMicros.get(group) ?? micros) / 1e6,
      })),
    topSelf: ranked(selfMicros),
    topTotal: ranked(totalMicros),
  };
}

/**
 * The thread a profile file is of, from the name Node gives it (`CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`)
 * and what ran in it: the main thread is thread 0; the worker's workflow thread runs the SDK's workflow code.
 */
export function threadOf(fileName: string, summary: ProfileSummary): { pid: number | null; thread: string } {
  const parts = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(path.basename(fileName));
  const pid = parts ? Number(parts[1]) : null;
  const threadId = parts ? Number(parts[2]) : null;
  if (threadId === 0) return { pid, thread: 'main' };
  const runsWorkflows = [...summary.topTotal, ...summary.topSelf].some((fn) =>
    fn.where.startsWith('@temporalio/worker/lib/workflow/'),
  );
  const name = runsWorkflows ? 'workflow thread' : 'worker thread';
  return { pid, thread: threadId === null ? name : `${name} ${threadId}` };
}
