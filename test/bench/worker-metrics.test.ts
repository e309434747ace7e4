import { describe, expect, it } from 'vitest';
import { sumPrometheusText, workerPhase } from '../../scripts/bench/worker-metrics';

const exposition = (hits: number, misses: number, polled: number, waitSum: number) => `
# HELP temporal_sticky_cache_hit Count of times the workflow cache was used for a new workflow task
# TYPE temporal_sticky_cache_hit counter
temporal_sticky_cache_hit{namespace="default",task_queue="referrals"} ${hits}
temporal_sticky_cache_miss{namespace="default",task_queue="referrals"} ${misses}
temporal_workflow_task_queue_poll_succeed{poller_type="sticky_workflow_task"} ${polled - 1}
temporal_workflow_task_queue_poll_succeed{poller_type="workflow_task"} 1
temporal_workflow_task_schedule_to_start_latency_bucket{le="100"} ${polled}
temporal_workflow_task_schedule_to_start_latency_sum{task_queue="referrals"} ${waitSum}
temporal_workflow_task_schedule_to_start_latency_count{task_queue="referrals"} ${polled}
temporal_workflow_completed{workflow_type="referralLifecycle"} ${hits}
temporal_not_a_number{a="b"} NaN
`;

describe("the worker's account of a phase, from its SDK metrics", () => {
  it('given a Prometheus exposition, when summed, then samples add up by name over their labels and comments are skipped', () => {
    const totals = sumPrometheusText(exposition(3, 2, 5, 50));
    expect(totals).toMatchObject({
      temporal_sticky_cache_hit: 3,
      temporal_sticky_cache_miss: 2,
      temporal_workflow_task_queue_poll_succeed: 5,
      temporal_workflow_task_schedule_to_start_latency_count: 5,
    });
    expect(totals).not.toHaveProperty('temporal_not_a_number');
  });

  it('given two readings, when compared, then the phase is their difference and a mean is its own sum over count', () => {
    const phase = workerPhase(
      sumPrometheusText(exposition(3, 2, 5, 50)),
      sumPrometheusText(exposition(10, 6, 17, 290)),
    );
    expect(phase).toMatchObject({
      workflowTasks: 12,
      stickyCacheHits: 7,
      stickyCacheMisses: 4,
      workflowTaskScheduleToStartMeanMs: 20,
      workflowTaskExecutionMeanMs: null,
      activities: 0,
      workflowsCompleted: 7,
    });
  });
});
