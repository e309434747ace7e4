/**
 * Real faults on the real processes, one at a time, at seeded instants spread over the workload: the worker killed
 * (SIGKILL) while the activities of a registration it just answered run, the API killed the instant it answered an
 * order's 202 (its delivery still under way), the Temporal server stopped and started, the postmaster stopped for
 * the outage and started again, and every process killed in the same instant. Each waits for the stack to be whole
 * again before the next begins.
 */
import { sql } from 'kysely';
import type { FaultHooks } from './workload';
import type { Prng } from './prng';
import type { ChaosStack } from './stack';

export const FAULT_KINDS = [
  'worker_kill',
  'api_kill',
  'temporal_restart',
  'postgres_outage',
  'kill_everything',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface InjectedFault {
  kind: FaultKind;
  at: string;
  /** how long until the stack was whole again */
  recoveredAfterMs: number;
  detail: string;
}

export interface FaultInjector {
  hooks: FaultHooks;
  run: () => Promise<InjectedFault[]>;
}

export function faultInjector(options: {
  stack: ChaosStack;
  prng: Prng;
  perKind: number;
  kinds: readonly FaultKind[];
  from: number;
  until: number;
  pgOutageMs: number;
  aborted: () => boolean;
  log: (line: string) => void;
}): FaultInjector {
  const { stack, prng, log } = options;
  // the next moment the workload reaches, for faults that must land on it
  let onSignup: (() => void) | null = null;
  let onOrder: ((eventId: string) => void) | null = null;
  // what the workload counts its patience from: a fault's span runs from its start until the stack is whole again
  let faultSince: number | null = null;
  let lastRecoveredAt: number | null = null;
  const hooks: FaultHooks = {
    signupRegistered: () => onSignup?.(),
    orderAccepted: (eventId) => onOrder?.(eventId),
    lastRecoveredAt: () => lastRecoveredAt,
    faultSince: () => faultSince,
  };
  const waitFor = <T>(arm: (resolve: (value: T) => void) => void, timeoutMs: number): Promise<T | null> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      arm((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });

  async function inject(kind: FaultKind): Promise<string> {
    switch (kind) {
      case 'worker_kill': {
        // Right after a registration's answer the worker runs its projection and voucher activities.
        const delay = prng.int(0, 40);
        const seen = await waitFor<void>((resolve) => {
          onSignup = () => {
            onSignup = null;
            setTimeout(() => {
              stack.worker.killNow();
              resolve();
            }, delay);
          };
        }, 15_000);
        onSignup = null;
        if (seen === null) await stack.worker.kill();
        // the SIGKILL already landed; this marks the exit as ours and waits for it
        await stack.worker.kill();
        await sleep(prng.int(0, 3_000));
        await stack.worker.start();
        return seen === null ? 'no signup within 15 s: killed while idle' : `SIGKILL ${delay} ms after a signup's 201`;
      }
      case 'api_kill': {
        const eventId = await waitFor<string>((resolve) => {
          onOrder = (id) => {
            onOrder = null;
            // synchronously, on the 202: the delivery queue sends the signal after answering
            stack.api.killNow();
            resolve(id);
          };
        }, 15_000);
        onOrder = null;
        await stack.api.kill();
        const undelivered = await sql<{ n: string }>`
          select count(*) as n from inbox_events where state = 'received'`
          .execute(stack.db)
          .then((result) => Number(result.rows[0]?.n ?? 0))
          .catch(() => -1);
        const caught =
          eventId === null
            ? null
            : await sql<{ state: string }>`select state from inbox_events where event_id = ${eventId}`
                .execute(stack.db)
                .then((result) => result.rows[0]?.state ?? 'missing')
                .catch(() => 'unknown');
        await sleep(prng.int(0, 3_000));
        await stack.api.start();
        return eventId === null
          ? `no order within 15 s: killed while idle; ${undelivered} accepted events undelivered`
          : `SIGKILL on the 202 of order event ${eventId} (its inbox state then: ${caught}); ${undelivered} accepted events undelivered`;
      }
      case 'temporal_restart':
        await stack.stopTemporal();
        await sleep(prng.int(500, 3_000));
        await stack.startTemporal();
        return `${stack.temporalKind === 'dev' ? 'dev server' : 'Temporal server'} stopped (SIGTERM) and started`;
      case 'postgres_outage': {
        await stack.stopPostgres();
        const started = Date.now();
        await sleep(options.pgOutageMs);
        await stack.startPostgres();
        return `postmaster stopped for ${Date.now() - started} ms${stack.temporalKind === 'postgres' ? ' (Temporal on it too)' : ''}`;
      }
      case 'kill_everything':
        stack.killEverything();
        await sleep(prng.int(500, 2_000));
        await stack.startEverything();
        return 'SIGKILL to the worker, the API, Temporal and PostgreSQL (postmaster and backends) at once';
    }
  }

  async function run(): Promise<InjectedFault[]> {
    const plan = prng.shuffle(options.kinds.flatMap((kind) => Array.from({ length: options.perKind }, () => kind)));
    const injected: InjectedFault[] = [];
    const span = options.until - options.from;
    for (const [i, kind] of plan.entries()) {
      // evenly spread, jittered inside each slot
      const slot = span / plan.length;
      const at = options.from + slot * i + prng.between(0, slot * 0.5);
      while (Date.now() < at && !options.aborted()) await sleep(Math.min(500, at - Date.now()));
      if (options.aborted()) break;
      const started = Date.now();
      faultSince = started;
      log(`fault ${i + 1}/${plan.length}: ${kind}`);
      try {
        const detail = await inject(kind);
        lastRecoveredAt = Date.now();
        faultSince = null;
        injected.push({ kind, at: new Date(started).toISOString(), recoveredAfterMs: Date.now() - started, detail });
        log(`  recovered in ${Date.now() - started} ms: ${detail}`);
      } catch (error) {
        injected.push({
          kind,
          at: new Date(started).toISOString(),
          recoveredAfterMs: Date.now() - started,
          detail: `RECOVERY FAILED: ${String(error)}`,
        });
        log(`  recovery failed: ${String(error)}`);
        throw error;
      }
    }
    return injected;
  }

  return { hooks, run };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
