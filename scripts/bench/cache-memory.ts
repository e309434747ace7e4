/**
 * `WORKER_MAX_CACHED_WORKFLOWS=N node --import tsx scripts/bench/cache-memory.ts [referrals]`
 *
 * What an open referral costs the service in memory: the benchmark's stack and service, signups (8 clients) into a
 * programme whose referrals stay open, and the service's RSS after every 150. Run it at two cache sizes: the
 * difference is what the cached referrals hold (bench/results/*-worker-cache-memory.txt).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { installTemporalRuntime } from '../../runtime/temporal-runtime';
import { expectStatus, httpClient, runClients } from './load';
import { runEnvironment } from './run-environment';
import { startStack } from './stack';

const logger = pino({ level: 'error' }, pino.destination(2));
installTemporalRuntime(logger, 'ERROR', { shutdownSignals: [] });
const total = Number(process.argv[2] ?? 600);
const STEP = 150;
const cache = JSON.stringify((await runEnvironment()).workerMaxCachedWorkflows);
const dir = await mkdtemp(path.join(os.tmpdir(), 'referrals-memory-'));
const cleanups: Array<() => Promise<void>> = [];
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
try {
  const stack = await startStack({ dir, temporal: undefined, cleanups, log: () => undefined });
  const service = await stack.startService();
  const http = httpClient(service.apiUrl);
  const post = (route: string, key: string, body: unknown, expected: number[]) =>
    expectStatus(http, expected, 'POST', route, key, body, { retried: 0 });
  // Orders never qualify: every referral stays open.
  const terms = { qualificationWindow: '1 hour', minOrders: 1000, minSpend: 1_000_000_000_000 };
  const programme = await post(
    '/v1/admin/programs',
    stack.apiKeys.admin,
    { name: 'memory', currency: 'INR', terms },
    [201],
  );
  const code = await post(
    '/v1/customers/memory-referrer/referral-code',
    stack.apiKeys.commerce,
    { programId: programme.value.id },
    [200, 201],
  );
  const ready = await service.memory();
  console.log(`cache=${cache} open=0 rss=${mb(ready.rss)} heap=${mb(ready.heapUsed)}`);
  for (let done = 0; done < total; done += STEP) {
    await runClients({
      count: STEP,
      concurrency: 8,
      deadlineMs: 600_000,
      call: (i) =>
        post(
          '/v1/events/signups',
          stack.apiKeys.commerce,
          { eventId: `e-${done + i}`, customerId: `c-${done + i}`, code: code.value.code },
          [201, 200],
        ),
    });
    // the last workflow tasks of the batch settle before the sample
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const m = await service.memory();
    console.log(`cache=${cache} open=${done + STEP} rss=${mb(m.rss)} heap=${mb(m.heapUsed)} peak=${mb(m.peakRss)}`);
  }
} finally {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
