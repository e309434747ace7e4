/**
 * CPU seconds per process of the stack, per phase of the run: which process a figure waited for. The service idling
 * while the Temporal server is busy says the gap is in round trips to Temporal, not in the service's code. Read from
 * /proc (Linux); elsewhere every phase reports no processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { LoopDelay } from './service-process';

export type ProcessGroup = 'service' | 'temporal' | 'postgres' | 'bench' | 'other';

export interface PhaseCpu {
  phase: string;
  seconds: number;
  /** CPU seconds in the phase, by process group (user + system, children that exited not included) */
  cpuSeconds: Partial<Record<ProcessGroup, number>>;
  /** the one-minute load average as the phase ended */
  loadAverage: number;
  /** the service's event-loop delay over the phase (from when the service ran) */
  serviceLoopDelay?: LoopDelay;
  /**
   * the phase's bounds on the machine's monotonic clock, in microseconds: the clock V8 stamps a CPU profile's samples
   * with, in every process, so `npm run bench:profile -- DIR --phases RESULT` splits the service's profile by phase
   */
  monotonicMicros: { from: number; to: number };
}

/**
 * The phases that start at a mass wake's instant: the raw timers' and the product's windows'. Each runs from the instant
 * to the last row (or expired referral) and the workflows' last tasks, so its CPU is the wake's alone; the wait before
 * the instant is a phase of its own. Each is a log line's start, and main.ts marks a phase only at a line that starts
 * with `baseline: ` or `product: `.
 */
export const WAKE_PHASES = {
  timers: "baseline: the timers' instant",
  windows: "product: the windows' instant",
} as const;

/** The CPU a wake cost per timer or expiry, by process group, and the share of the machine's cores it kept busy. */
export interface WakeCpu {
  seconds: number;
  /** all the stack's processes, per operation */
  msPerOperation: number;
  msPerOperationByGroup: Partial<Record<ProcessGroup, number>>;
  /**
   * the stack's CPU seconds over the phase's seconds times the cores, when the whole stack ran here (null with a
   * Temporal or PostgreSQL elsewhere, whose CPU is not read): near 1, the wake had the cores to itself and used them;
   * the load average says whether anything else wanted them
   */
  shareOfCores: number | null;
  /** the one-minute load average as the phase ended */
  loadAverage: number;
}

/**
 * The wake phase starting with `prefix`, per operation (the timers fired or referrals expired from the instant on);
 * null without that phase, its operations, its time, or the processes' CPU (read from /proc, Linux only).
 */
export function wakeCpu(
  phases: readonly PhaseCpu[],
  prefix: string,
  operations: number,
  machine: { cores: number; wholeStackHere: boolean },
): WakeCpu | null {
  const phase = phases.find((p) => p.phase.startsWith(prefix));
  if (!phase || operations <= 0 || machine.cores <= 0 || phase.seconds <= 0) return null;
  const groups = Object.entries(phase.cpuSeconds) as Array<[ProcessGroup, number]>;
  if (groups.length === 0) return null;
  const byGroup: Partial<Record<ProcessGroup, number>> = {};
  let total = 0;
  for (const [group, seconds] of groups) {
    byGroup[group] = (seconds * 1000) / operations;
    total += seconds;
  }
  return {
    seconds: phase.seconds,
    msPerOperation: (total * 1000) / operations,
    msPerOperationByGroup: byGroup,
    shareOfCores: machine.wholeStackHere ? total / (phase.seconds * machine.cores) : null,
    loadAverage: phase.loadAverage,
  };
}

const monotonicMicros = () => Number(process.hrtime.bigint() / 1000n);

const TICKS_PER_SECOND = 100;

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  ticks: number;
}

function readStats(): Stat[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const stats: Stat[] = [];
  for (const pid of pids) {
    try {
      const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // comm may hold spaces and parentheses: the fields after it start at the last ')'
      const close = raw.lastIndexOf(')');
      const comm = raw.slice(raw.indexOf('(') + 1, close);
      const fields = raw.slice(close + 2).split(' ');
      stats.push({ pid: Number(pid), ppid: Number(fields[1]), comm, ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone between the listing and the read
    }
  }
  return stats;
}

/**
 * The CLI's dev server, or Temporal's own server. Results before this counted the latter as `other` (on Temporal on
 * PostgreSQL, `other` is the server there).
 */
export const isTemporal = (comm: string) => comm === 'temporal' || comm === 'temporal-server';

/** This process and its descendants, grouped. */
function sample(servicePids: () => readonly number[]): Map<number, { group: ProcessGroup; ticks: number }> {
  const stats = readStats();
  const children = new Map<number, Stat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const service = new Set(servicePids());
  const out = new Map<number, { group: ProcessGroup; ticks: number }>();
  const visit = (pid: number, inherited: ProcessGroup | undefined) => {
    const s = byPid.get(pid);
    if (!s) return;
    const group: ProcessGroup =
      pid === process.pid
        ? 'bench'
        : service.has(pid)
          ? 'service'
          : (inherited ?? (isTemporal(s.comm) ? 'temporal' : s.comm === 'postgres' ? 'postgres' : 'other'));
    out.set(pid, { group, ticks: s.ticks });
    for (const child of children.get(pid) ?? []) visit(child.pid, group === 'bench' ? undefined : group);
  };
  visit(process.pid, undefined);
  return out;
}

/**
 * Call `mark(phase)` as each phase starts; `finish()` closes the last one and returns them all. `serviceLoopDelay` reads
 * the service's event-loop delay since its last call, asked as each phase closes (and as the first begins).
 */
export function phaseCpu(options: {
  servicePids: () => readonly number[];
  loadAverage: () => number;
  serviceLoopDelay?: () => Promise<LoopDelay | undefined>;
}) {
  const phases: PhaseCpu[] = [];
  let current:
    | { phase: string; at: number; atMicros: number; ticks: Map<number, { group: ProcessGroup; ticks: number }> }
    | undefined;
  // one ask at a time, in phase order: each reading closes the phase before it
  let loopReadings: Promise<void> = Promise.resolve();
  const readLoopDelay = (into?: PhaseCpu) => {
    const read = options.serviceLoopDelay;
    if (!read) return;
    loopReadings = loopReadings.then(() =>
      read().then(
        (delay) => {
          if (into && delay) into.serviceLoopDelay = delay;
        },
        () => undefined,
      ),
    );
  };
  const close = () => {
    if (!current) return readLoopDelay();
    const now = sample(options.servicePids);
    const cpu: Partial<Record<ProcessGroup, number>> = {};
    for (const [pid, { group, ticks }] of now) {
      // a process started during the phase counts from zero
      const used = ticks - (current.ticks.get(pid)?.ticks ?? 0);
      cpu[group] = (cpu[group] ?? 0) + used / TICKS_PER_SECOND;
    }
    const phase: PhaseCpu = {
      phase: current.phase,
      seconds: (performance.now() - current.at) / 1000,
      cpuSeconds: cpu,
      loadAverage: options.loadAverage(),
      monotonicMicros: { from: current.atMicros, to: monotonicMicros() },
    };
    phases.push(phase);
    readLoopDelay(phase);
  };
  return {
    mark(phase: string) {
      close();
      current = { phase, at: performance.now(), atMicros: monotonicMicros(), ticks: sample(options.servicePids) };
    },
    async finish(): Promise<PhaseCpu[]> {
      close();
      current = undefined;
      await loopReadings;
      return phases;
    },
  };
}
