/**
 * The commerce backend's and the admin's side of the wire, as a careful client behaves during an outage: a request
 * that got no answer, or a 5xx, is sent again unchanged (every request the run makes carries its own idempotency
 * key), with backoff, until an answer that decides it or until its budget runs out. Loopback only.
 */
export interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  /** when the deciding answer came, epoch ms */
  at: number;
  /** when the first attempt left */
  sentAt: number;
  /** attempts beyond the first, because of no answer or a 5xx */
  retries: number;
  /** status 0: no deciding answer within the budget */
}

export interface ChaosHttp {
  send: (
    method: 'GET' | 'POST',
    path: string,
    key: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<Answer>;
  stats: () => { requests: number; retries: number; gaveUp: number };
}

export function chaosHttp(options: {
  baseUrl: string;
  /** how long one request may keep retrying through an outage */
  budgetMs: number;
  /** the run is over: stop retrying */
  aborted: () => boolean;
}): ChaosHttp {
  const url = new URL(options.baseUrl);
  if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]')
    throw new Error(`the chaos run talks to loopback only, not ${url.hostname}`);
  let requests = 0;
  let retries = 0;
  let gaveUp = 0;

  const send: ChaosHttp['send'] = async (method, path, key, body, headers = {}) => {
    requests += 1;
    const sentAt = Date.now();
    const deadline = sentAt + options.budgetMs;
    let attempt = 0;
    let delay = 200;
    for (;;) {
      try {
        const response = await fetch(`${options.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${key}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...headers,
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(20_000),
        });
        const text = await response.text();
        if (response.status < 500) {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // not JSON: kept as text
          }
          return { status: response.status, body: parsed, at: Date.now(), sentAt, retries: attempt };
        }
      } catch {
        // no answer (connection refused while the API is down, reset as it dies, or a timeout): send again
      }
      attempt += 1;
      retries += 1;
      if (Date.now() + delay > deadline || options.aborted()) {
        gaveUp += 1;
        return { status: 0, body: null, at: Date.now(), sentAt, retries: attempt };
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
  };
  return { send, stats: () => ({ requests, retries, gaveUp }) };
}
