import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from './logger';

const PINO_METHOD: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Routes the Temporal SDK's logs (worker, workflow `log`, and the Rust core) into our JSON logger, so one process
 * writes one log format. Must run before the first worker or native connection is created.
 *
 * By default the runtime stops the workers itself on SIGINT and SIGTERM (what the worker process wants);
 * `shutdownSignals: []` leaves the signals to the caller (npm start stops things in its own order).
 * `metricsAddress`: the SDK's worker metrics served there for Prometheus (temporal_sticky_cache_hit,
 * temporal_workflow_task_schedule_to_start_latency, ...), what an operator reads to tune the cache and the slots.
 */
export function installTemporalRuntime(
  logger: Logger,
  level: LogLevel = 'INFO',
  options: { shutdownSignals?: NodeJS.Signals[]; metricsAddress?: string | undefined } = {},
): void {
  Runtime.install({
    ...(options.shutdownSignals ? { shutdownSignals: options.shutdownSignals } : {}),
    logger: new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
      logger[PINO_METHOD[entryLevel]]({ component: 'temporal', ...meta }, message);
    }),
    telemetryOptions: {
      logging: { filter: { core: level === 'INFO' ? 'WARN' : level, other: 'ERROR' }, forward: {} },
      ...(options.metricsAddress ? { metrics: { prometheus: { bindAddress: options.metricsAddress } } } : {}),
    },
  });
}
