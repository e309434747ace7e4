export interface HttpResult<T = any> {
  status: number;
  contentType: string | null;
  body: T;
}

/** A tiny client for the API under test: JSON in, status + content type + parsed body out. */
export function httpClient(send: (path: string, init: RequestInit) => Promise<Response>) {
  const request = async (
    method: string,
    path: string,
    key?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResult> => {
    const response = await send(path, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, contentType: response.headers.get('content-type'), body: parsed };
  };
  return {
    get: (path: string, key?: string) => request('GET', path, key),
    post: (path: string, key: string | undefined, body?: unknown, headers?: Record<string, string>) =>
      request('POST', path, key, body, headers),
    patch: (path: string, key: string | undefined, body?: unknown) => request('PATCH', path, key, body),
  };
}

export const KEYS = {
  commerce: 'commerce-secret-0123456789',
  admin: 'admin-secret-0123456789abc',
};
export const API_KEYS = [
  { name: 'shop', role: 'commerce' as const, secret: KEYS.commerce },
  { name: 'ops', role: 'admin' as const, secret: KEYS.admin },
];
