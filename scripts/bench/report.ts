/**
 * The figures as one table (printed) and as JSON (bench/results/): each product figure beside its baseline, the
 * ratio between them, and the goal it is held to. Goals are reported, never enforced.
 */
import type { BaselineResults } from './baselines';
import { WAKE_PHASES, wakeCpu, type PhaseCpu, type WakeCpu } from './cpu';
import type { LatencySummary } from './load';
import type { ProductResults, WorkerPhaseName } from './product';
import type { WorkerPhase } from './worker-metrics';
import type { PoolUse, ServiceMemory } from './service-process';

export interface Figure {
  section: 'baseline' | 'product';
  figure: string;
  /** the headline number, in `unit` */
  value: number | null;
  unit: string;
  /** printed value, with latencies where they belong */
  shown: string;
  baseline: string | null;
  ratio: number | null;
  goal: string | null;
  met: boolean | null;
}

export interface Footprint {
  openReferrals: number;
  /** the worker and the API in processes of their own (--split): the RSS figures are the worker's, the pool its */
  split?: boolean;
  /** the service's RSS once ready, before any load: what the open referrals add is the difference */
  serviceReadyRssBytes?: number;
  serviceRssBytes: number;
  servicePeakRssBytes: number;
  /** where the ready service's RSS went */
  readyMemory?: MemoryReading;
  /** where the RSS with `openReferrals` open went */
  openMemory?: MemoryReading;
  /** the RSS again with the mass expiry's referrals open too, just before their windows close: how it grows with N */
  atMostOpen?: { openReferrals: number; rssBytes: number; memory?: MemoryReading };
  referrals: number;
  postgresBytes: number;
  postgresEmptyBytes: number;
  postgresBytesPerReferral: number;
  /** per table, largest first, after the run (row counts as estimated by the last analyze) */
  postgresTables?: Array<{ table: string; totalBytes: number; indexBytes: number; rows: number }>;
  /** the service's PostgreSQL pool over the run: its size, and queries that waited for a connection */
  databasePool?: PoolUse;
  /** CPU seconds of each process per phase */
  phases?: PhaseCpu[];
}

/**
 * The service's resident memory at a reading, and the part the main thread's V8 heap (committed) and its buffers hold:
 * the API, the activities, the pg pool. The rest of the process is the workflow thread's heap (the cached referrals),
 * the SDK's native core, the other threads, the allocator's free pages and the binaries' own pages; the ready
 * reading's rest is the part of it that does not grow with the referrals.
 */
export interface MemoryReading {
  rssBytes: number;
  mainHeapBytes: number;
  /** the main thread's heap in use after a full collection, when the reading made one */
  mainHeapLiveBytes?: number;
  externalBytes: number;
}

/**
 * Each result file's shape, written into it as `format` (`footprint/2`): raised when a field is added, renamed or
 * changes meaning, so a reader comparing runs knows what to expect of each. Files written before it have none.
 */
export const RESULT_FORMAT = { bench: 2, footprint: 2, workflowHeap: 1, cpuProfile: 1 } as const;

/** A result file's date prefix: the run's start to the second, with no character a file system refuses. */
export function resultStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replaceAll(':', '-');
}

export function memoryReading(memory: ServiceMemory): MemoryReading {
  return {
    rssBytes: memory.rss,
    mainHeapBytes: memory.heapTotal,
    ...(memory.heapLive === undefined ? {} : { mainHeapLiveBytes: memory.heapLive }),
    externalBytes: memory.external,
  };
}

/** The RSS that neither the main thread's heap nor its buffers account for. */
export const restOfProcess = (m: MemoryReading): number => m.rssBytes - m.mainHeapBytes - m.externalBytes;

/** One line of a reading's split, in MB. */
export function memorySplit(m: MemoryReading): string {
  const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(0);
  const live = m.mainHeapLiveBytes === undefined ? '' : ` (${mb(m.mainHeapLiveBytes)} live)`;
  return `RSS ${mb(m.rssBytes)} MB: main heap ${mb(m.mainHeapBytes)}${live}, buffers ${mb(m.externalBytes)}, rest ${mb(restOfProcess(m))}`;
}

const MB = 1024 * 1024;
const fixed = (value: number | null, digits = 1) => (value === null ? '–' : value.toFixed(digits));
const latency = (l: LatencySummary, which: Array<keyof LatencySummary> = ['p50', 'p95', 'p99']) =>
  `${which.map((p) => `${p} ${fixed(l[p])}`).join(' ')} ms`;
const ratioOf = (value: number | null, baseline: number | null) =>
  value === null || baseline === null || baseline === 0 ? null : value / baseline;

export function figures(options: {
  concurrency: number;
  /** the machine's cores, and whether Temporal and PostgreSQL ran on it too: a wake's CPU is read against them */
  machine: { cores: number; wholeStackHere: boolean };
  baseline: BaselineResults;
  product: ProductResults;
  footprint: Footprint;
}): Figure[] {
  const { baseline: b, product: p, footprint: f, concurrency: c, machine } = options;
  // per timer fired and referral expired from the instant on: those done before it are not the wake's
  const timersCpu = wakeCpu(f.phases ?? [], WAKE_PHASES.timers, b.timers.written - b.timers.writtenAtInstant, machine);
  const expiryCpu = wakeCpu(
    f.phases ?? [],
    WAKE_PHASES.windows,
    p.massExpiry.expired - p.massExpiry.expiredAtInstant,
    machine,
  );
  const signalAck = b.signalsAcknowledged.perSecond;
  const signalDone = b.signalsProcessed.perSecond;
  const rows: Figure[] = [
    {
      section: 'baseline',
      figure: `raw workflow starts (${c} clients)`,
      value: b.workflowStarts.perSecond,
      unit: '/s',
      shown: `${fixed(b.workflowStarts.perSecond)} /s  ${latency(b.workflowStarts.latencyMs)}`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    {
      section: 'baseline',
      figure: `raw signals acknowledged (${c} clients, one per workflow)`,
      value: signalAck,
      unit: '/s',
      shown: `${fixed(signalAck)} /s  ${latency(b.signalsAcknowledged.latencyMs)}`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    {
      section: 'baseline',
      figure: 'raw signals processed (workflow clock, by query)',
      value: signalDone,
      unit: '/s',
      shown: `${fixed(signalDone)} /s`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    {
      section: 'baseline',
      figure: `raw update-with-start, local activity row (${c} clients)`,
      value: b.updateWithStart.perSecond,
      unit: '/s',
      shown: `${fixed(b.updateWithStart.perSecond)} /s  ${latency(b.updateWithStart.latencyMs)}`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    {
      section: 'baseline',
      figure: `raw inbox-shaped inserts (${c} connections)`,
      value: b.inserts.perSecond,
      unit: '/s',
      shown: `${fixed(b.inserts.perSecond)} /s  ${latency(b.inserts.latencyMs)}`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    {
      section: 'baseline',
      figure: `raw timers: ${b.timers.count} due at once → last activity row`,
      value: b.timers.secondsAfterInstant,
      unit: 's',
      shown: `${fixed(b.timers.secondsAfterInstant, 2)} s`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    ...wakeCpuRows('baseline', 'raw timers: CPU per timer after the instant', timersCpu, null),
  ];

  // Full load against what Temporal acknowledges; half load, whose goal is a latency, against the insert it waits on.
  const fullRatio = ratioOf(p.ingestFull.perSecond, signalAck);
  const halfP95 = p.ingestHalf.latencyMs.p95;
  rows.push(
    {
      section: 'product',
      figure: `order ingest, ${p.ingestFull.concurrency} clients (202)`,
      value: p.ingestFull.perSecond,
      unit: '/s',
      shown: `${fixed(p.ingestFull.perSecond)} /s  ${latency(p.ingestFull.latencyMs)}`,
      baseline: 'raw signals acknowledged',
      ratio: fullRatio,
      goal: '≥ 2× raw signals acknowledged',
      met: fullRatio === null ? null : fullRatio >= 2,
    },
    {
      section: 'product',
      figure: `order ingest, ${p.ingestHalf.concurrency} clients, half load (202)`,
      value: halfP95,
      unit: 'ms p95',
      shown: `${fixed(p.ingestHalf.perSecond)} /s  ${latency(p.ingestHalf.latencyMs)}`,
      baseline: 'raw insert p95',
      ratio: ratioOf(halfP95, b.inserts.latencyMs.p95),
      goal: 'p95 ≤ 20 ms',
      met: halfP95 === null ? null : halfP95 <= 20,
    },
  );
  const delivery = (run: ProductResults['deliveryFull'], label: string, withGoal: boolean): Figure => {
    const ratio = ratioOf(run.perSecond, signalDone);
    return {
      section: 'product',
      figure: `order delivery, applied in projection${label}`,
      value: run.perSecond,
      unit: '/s',
      shown: `${fixed(run.perSecond)} /s`,
      baseline: 'raw signals processed',
      ratio,
      goal: withGoal ? '≥ 0.9× raw signals processed' : null,
      met: withGoal && ratio !== null ? ratio >= 0.9 : null,
    };
  };
  rows.push(delivery(p.deliveryFull, '', true), delivery(p.deliveryHalf, ' (half load)', false));
  const signupRatio = ratioOf(p.signups.perSecond, b.updateWithStart.perSecond);
  rows.push({
    section: 'product',
    figure: `signups, registrations (${c} clients, 201)`,
    value: p.signups.perSecond,
    unit: '/s',
    shown: `${fixed(p.signups.perSecond)} /s  ${latency(p.signups.latencyMs)}`,
    baseline: 'raw update-with-start',
    ratio: signupRatio,
    goal: '≥ 0.8× raw update-with-start',
    met: signupRatio === null ? null : signupRatio >= 0.8,
  });
  const lifecycleP95 = p.lifecycle.latencyMs.p95;
  rows.push({
    section: 'product',
    figure: `lifecycle: qualifying order 202 → completed (${p.lifecycle.completed} of ${p.lifecycle.count}, hold ${p.lifecycle.terms.rewardHold})`,
    value: lifecycleP95,
    unit: 'ms p95',
    shown: latency(p.lifecycle.latencyMs, ['p50', 'p95', 'max']),
    baseline: null,
    ratio: null,
    goal: 'p95 ≤ 300 ms',
    met: lifecycleP95 === null ? null : lifecycleP95 <= 300,
  });
  const expiry = p.massExpiry.secondsAfterInstant;
  const expiryRatio = ratioOf(expiry, b.timers.secondsAfterInstant);
  rows.push({
    section: 'product',
    figure: `mass expiry: ${p.massExpiry.count} windows closing at once → expired`,
    value: expiry,
    unit: 's',
    shown: `${fixed(expiry, 2)} s`,
    baseline: 'raw timers',
    ratio: expiryRatio,
    goal: '10,000 within 60 s, ≤ 1× raw timers',
    met: expiry === null || expiryRatio === null ? null : expiry <= 60 && expiryRatio <= 1,
  });
  rows.push(...wakeCpuRows('product', 'mass expiry: CPU per expiry after the instant', expiryCpu, timersCpu));
  rows.push(
    {
      section: 'product',
      figure: `worker RSS (${f.split ? 'worker process' : 'service process: worker + API'}), ${f.openReferrals} open`,
      value: f.serviceRssBytes / MB,
      unit: 'MB',
      shown: `${fixed(f.serviceRssBytes / MB, 0)} MB (peak ${fixed(f.servicePeakRssBytes / MB, 0)} MB)`,
      baseline: null,
      ratio: null,
      goal: '< 600 MB at 100,000 open',
      met: f.servicePeakRssBytes < 600 * MB,
    },
    ...(f.atMostOpen && f.atMostOpen.openReferrals > f.openReferrals
      ? [
          {
            section: 'product' as const,
            figure: `worker RSS with ${f.atMostOpen.openReferrals} open (the mass expiry's too, before its instant)`,
            value: f.atMostOpen.rssBytes / MB,
            unit: 'MB',
            shown: `${fixed(f.atMostOpen.rssBytes / MB, 0)} MB`,
            baseline: null,
            ratio: null,
            goal: '< 600 MB at 100,000 open',
            met: f.atMostOpen.rssBytes < 600 * MB,
          },
        ]
      : []),
    ...memoryRows('ready', f.readyMemory),
    ...memoryRows(`${f.openReferrals} open`, f.openMemory),
    ...(f.atMostOpen && f.atMostOpen.openReferrals > f.openReferrals
      ? memoryRows(`${f.atMostOpen.openReferrals} open`, f.atMostOpen.memory)
      : []),
    {
      section: 'product',
      figure: `PostgreSQL per referral (app schema, ${f.referrals} referrals)`,
      value: f.postgresBytesPerReferral,
      unit: 'bytes',
      shown: `${fixed(f.postgresBytesPerReferral / 1024, 2)} KB (${fixed(f.postgresBytes / MB, 1)} MB in all)`,
      baseline: null,
      ratio: null,
      goal: '≤ 2 KB',
      met: f.postgresBytesPerReferral <= 2048,
    },
    {
      section: 'product',
      figure: 'Temporal history events per referral (open: signup + 2 orders)',
      value: p.historyEvents.open,
      unit: 'events',
      shown: `${fixed(p.historyEvents.open)} (completed: ${fixed(p.historyEvents.completed)})`,
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
    ...workerRows(p.worker ?? {}),
  );
  return rows;
}

/** Where a reading's RSS went: the main thread's heap and buffers, and the rest of the process. */
function memoryRows(when: string, memory: MemoryReading | undefined): Figure[] {
  if (!memory) return [];
  return [
    {
      section: 'product',
      figure: `service memory, ${when}: main thread's heap, its buffers; rest of the process (workflow thread, native)`,
      value: restOfProcess(memory) / MB,
      unit: 'MB',
      shown: memorySplit(memory),
      baseline: null,
      ratio: null,
      goal: null,
      met: null,
    },
  ];
}

const GROUP_LABELS: Array<[keyof WakeCpu['msPerOperationByGroup'], string]> = [
  ['service', 'service'],
  ['temporal', 'Temporal'],
  ['postgres', 'PostgreSQL'],
  ['bench', 'bench'],
  ['other', 'other'],
];

/**
 * A wake's CPU per operation, by process, and the stack's share of the cores over it: near 1 with a low load from
 * anything else, the wake waited for the CPU; well below, for round trips. The raw timers' worker runs in the bench
 * process.
 */
function wakeCpuRows(
  section: Figure['section'],
  figure: string,
  wake: WakeCpu | null,
  baseline: WakeCpu | null,
): Figure[] {
  if (!wake) return [];
  const groups = GROUP_LABELS.flatMap(([group, label]) => {
    const ms = wake.msPerOperationByGroup[group];
    return ms === undefined || ms === 0 ? [] : [`${label} ${fixed(ms)}`];
  });
  return [
    {
      section,
      figure,
      value: wake.msPerOperation,
      unit: 'ms',
      shown: `${fixed(wake.msPerOperation)} ms (${groups.join(', ')}); ${wake.shareOfCores === null ? '' : `the stack ${fixed(wake.shareOfCores * 100, 0)}% of the cores, `}load ${fixed(wake.loadAverage)}, over ${fixed(wake.seconds)} s`,
      baseline: baseline ? 'raw timers' : null,
      ratio: baseline ? ratioOf(wake.msPerOperation, baseline.msPerOperation) : null,
      goal: null,
      met: null,
    },
  ];
}

const WORKER_PHASES: Record<WorkerPhaseName, string> = {
  signups: 'per signup',
  ordersFull: 'per order, full load',
  ordersHalf: 'per order, half load',
  lifecycle: 'per lifecycle referral',
  massExpiry: 'per expiry',
};

/**
 * Tasks that did not find their referral cached: a sticky miss, or a task from the shared queue (the referral had left
 * the cache, or a worker other than this one had it). Each replays the referral's whole history, unless it is the
 * referral's first.
 */
const notCached = (w: WorkerPhase) => Math.max(0, w.workflowTasks - w.stickyCacheHits);

/** The worker's own account of each phase: where a phase's time went that its CPU alone does not tell. */
function workerRows(phases: NonNullable<ProductResults['worker']>): Figure[] {
  return Object.entries(WORKER_PHASES).flatMap(([name, per]) => {
    const w = phases[name as WorkerPhaseName];
    if (!w || w.operations === 0) return [];
    const each = (count: number) => fixed(count / w.operations, 2);
    return [
      {
        section: 'product' as const,
        figure: `worker ${per}: workflow tasks, of them not found cached (replayed), activities; mean task wait / run`,
        value: notCached(w) / w.operations,
        unit: 'tasks not found cached',
        shown: `${each(w.workflowTasks)} tasks, ${each(notCached(w))} not cached, ${each(w.activities)} activities; ${fixed(w.workflowTaskScheduleToStartMeanMs, 0)} / ${fixed(w.workflowTaskExecutionMeanMs, 0)} ms`,
        baseline: null,
        ratio: null,
        goal: null,
        met: null,
      },
    ];
  });
}

/** The table, aligned, as lines. */
export function table(rows: Figure[]): string[] {
  const cells = rows.map((r) => [
    r.figure,
    r.shown,
    r.ratio === null ? '' : `${r.ratio.toFixed(2)}× ${r.baseline}`,
    r.goal ?? '',
    r.met === null ? '' : r.met ? 'yes' : 'no',
  ]);
  const header = ['figure', 'value', 'ratio to baseline', 'goal', 'met'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  let section: Figure['section'] | undefined;
  rows.forEach((r, i) => {
    if (r.section !== section && section !== undefined) out.push('');
    section = r.section;
    out.push(line(cells[i]!));
  });
  return out;
}
