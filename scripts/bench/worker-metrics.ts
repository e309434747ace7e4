/**
 * The worker's own account of a phase, from the Temporal SDK's Prometheus metrics (WORKER_METRICS_ADDRESS): how many
 * workflow tasks it took, how many of them found their referral out of its cache (and replayed its history), and how
 * long tasks waited on the server before the worker took them. What CPU figures cannot tell apart: a phase bound by
 * replays, by the server's queue, or by the worker's slots.
 */

/** Every sample of a metric summed over its labels, by the sample's name (`_count` and `_sum` of histograms apart). */
export type MetricTotals = Record<string, number>;

/** Sums the samples of a Prometheus text exposition by name; comments and unparsable lines are skipped. */
export function sumPrometheusText(text: string): MetricTotals {
  const totals: MetricTotals = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (!Number.isFinite(value)) continue;
    totals[match[1]!] = (totals[match[1]!] ?? 0) + value;
  }
  return totals;
}

export interface WorkerPhase {
  /** workflow tasks the worker polled */
  workflowTasks: number;
  /** tasks of a referral the worker had cached */
  stickyCacheHits: number;
  /** tasks on the worker's own queue whose referral had left its cache meanwhile (those on the shared queue are not counted) */
  stickyCacheMisses: number;
  /** referrals pushed out of a full cache to make room */
  forcedEvictions: number;
  /** mean wait of a workflow task on the server before the worker took it */
  workflowTaskScheduleToStartMeanMs: number | null;
  /** mean time the worker spent on one workflow task */
  workflowTaskExecutionMeanMs: number | null;
  activities: number;
  activityScheduleToStartMeanMs: number | null;
  /** workflow runs the worker completed */
  workflowsCompleted: number;
}

const PREFIX = 'temporal_';

/** What the worker did between two readings. */
export function workerPhase(before: MetricTotals, after: MetricTotals): WorkerPhase {
  const delta = (name: string) => (after[PREFIX + name] ?? 0) - (before[PREFIX + name] ?? 0);
  const mean = (histogram: string) => {
    const count = delta(`${histogram}_count`);
    return count > 0 ? Math.round((delta(`${histogram}_sum`) / count) * 10) / 10 : null;
  };
  return {
    workflowTasks: delta('workflow_task_queue_poll_succeed'),
    stickyCacheHits: delta('sticky_cache_hit'),
    stickyCacheMisses: delta('sticky_cache_miss'),
    forcedEvictions: delta('sticky_cache_total_forced_eviction'),
    workflowTaskScheduleToStartMeanMs: mean('workflow_task_schedule_to_start_latency'),
    workflowTaskExecutionMeanMs: mean('workflow_task_execution_latency'),
    activities: delta('activity_execution_latency_count'),
    activityScheduleToStartMeanMs: mean('activity_schedule_to_start_latency'),
    workflowsCompleted: delta('workflow_completed'),
  };
}
