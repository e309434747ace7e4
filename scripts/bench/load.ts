/**
 * Load and measurement helpers: a fixed number of concurrent clients working through a fixed number of calls
 * under a deadline, percentiles, and polling with a deadline. Every loop here ends by count or by time.
 */

export interface Call<T> {
  ok: boolean;
  ms: number;
  value?: T | undefined;
  /** what went wrong, for the first few failures printed */
  error?: string | undefined;
}

export interface LoadRun<T> {
  /** calls attempted (fewer than asked when the deadline stopped the clients) */
  count: number;
  ok: number;
  failed: number;
  seconds: number;
  /** wall-clock instants (performance.now()) of the first call's start and the last call's end */
  startedAt: number;
  endedAt: number;
  /** latencies of the successful calls, ms */
  latencies: number[];
  values: (T | undefined)[];
  errors: string[];
  timedOut: boolean;
}

/**
 * `count` calls from `concurrency` clients, each client taking the next index as soon as its call ends; clients stop
 * taking new calls once `deadlineMs` has passed since the start.
 */
export async function runClients<T>(options: {
  count: number;
  concurrency: number;
  deadlineMs: number;
  call: (index: number) => Promise<Call<T>>;
}): Promise<LoadRun<T>> {
  const { count, deadlineMs, call } = options;
  const concurrency = Math.max(1, Math.min(options.concurrency, count));
  const values: (T | undefined)[] = Array.from({ length: count });
  const latencies: number[] = [];
  const errors: string[] = [];
  let next = 0;
  let ok = 0;
  let failed = 0;
  let timedOut = false;
  const startedAt = performance.now();
  const stopAt = startedAt + deadlineMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        if (performance.now() > stopAt) {
          timedOut = true;
          return;
        }
        const index = next++;
        let result: Call<T>;
        try {
          result = await call(index);
        } catch (error) {
          result = { ok: false, ms: 0, error: error instanceof Error ? error.message : String(error) };
        }
        values[index] = result.value;
        if (result.ok) {
          ok += 1;
          latencies.push(result.ms);
        } else {
          failed += 1;
          if (errors.length < 5) errors.push(result.error ?? 'failed');
        }
      }
    }),
  );
  const endedAt = performance.now();
  return {
    count: ok + failed,
    ok,
    failed,
    seconds: (endedAt - startedAt) / 1000,
    startedAt,
    endedAt,
    latencies,
    values,
    errors,
    timedOut,
  };
}

/** Times one call of anything; a throw is a failed call with its message. */
export async function timed<T>(work: () => Promise<T>, accept: (value: T) => boolean = () => true): Promise<Call<T>> {
  const started = performance.now();
  try {
    const value = await work();
    const ms = performance.now() - started;
    return accept(value) ? { ok: true, ms, value } : { ok: false, ms, value, error: JSON.stringify(value) };
  } catch (error) {
    return {
      ok: false,
      ms: performance.now() - started,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/** The p-th percentile (nearest rank) of the values, or null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface LatencySummary {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export const summarise = (latencies: readonly number[]): LatencySummary => ({
  p50: percentile(latencies, 50),
  p95: percentile(latencies, 95),
  p99: percentile(latencies, 99),
  max: latencies.length ? Math.max(...latencies) : null,
});

/**
 * Calls `read` every `intervalMs` until `done` accepts its value or `timeoutMs` passes; answers the last value, the
 * instant it was read (performance.now() and epoch ms), and whether it was accepted.
 */
export async function pollUntil<T>(options: {
  read: () => Promise<T>;
  done: (value: T) => boolean;
  intervalMs: number;
  timeoutMs: number;
}): Promise<{ value: T; at: number; epochMs: number; done: boolean }> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const value = await options.read();
    const at = performance.now();
    const epochMs = Date.now();
    if (options.done(value)) return { value, at, epochMs, done: true };
    if (at > deadline) return { value, at, epochMs, done: false };
    await sleep(options.intervalMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A JSON HTTP client over loopback that times each call. */
export function httpClient(baseUrl: string) {
  return async (
    method: 'GET' | 'POST',
    path: string,
    key: string,
    body?: unknown,
  ): Promise<{ status: number; body: any; ms: number }> => {
    const started = performance.now();
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const ms = performance.now() - started;
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: kept as text for the error line
    }
    return { status: response.status, body: parsed, ms };
  };
}

export type Http = ReturnType<typeof httpClient>;

/** How many times a 503 was answered and the same request sent again, per phase. */
export interface RetryCount {
  retried: number;
}

/**
 * An HTTP call as a timed Call, successful when the status is the expected one. A 503 (the API kept the event but a
 * dependency did not answer in time; it asks for the same request again) is retried as a commerce backend would, a
 * few times with a growing pause; the latency is the caller's, from the first attempt to the last answer.
 */
export async function expectStatus(
  http: Http,
  expected: number | number[],
  method: 'GET' | 'POST',
  path: string,
  key: string,
  body?: unknown,
  retries?: RetryCount,
): Promise<Call<any>> {
  const started = performance.now();
  const wanted = Array.isArray(expected) ? expected : [expected];
  const attempts = retries ? 5 : 1;
  try {
    for (let attempt = 1; ; attempt++) {
      const response = await http(method, path, key, body);
      const ms = performance.now() - started;
      if (wanted.includes(response.status)) return { ok: true, ms, value: response.body };
      if (response.status === 503 && retries && attempt < attempts) {
        retries.retried += 1;
        await sleep(250 * attempt);
        continue;
      }
      return {
        ok: false,
        ms,
        value: response.body,
        error: `${method} ${path}: ${response.status} ${JSON.stringify(response.body).slice(0, 300)}${attempt > 1 ? ` (attempt ${attempt})` : ''}`,
      };
    }
  } catch (error) {
    return {
      ok: false,
      ms: performance.now() - started,
      error: `${method} ${path}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
