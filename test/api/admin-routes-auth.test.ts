import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { appOver, untouchableTemporal } from '../support/app';
import { createTestDatabase } from '../support/database';
import { KEYS } from '../support/http';

/**
 * Every admin operation the published document lists, called with a commerce key: refused (403) before anything is
 * read or written, and without reaching Temporal. Walks the document, so a route added later is covered too.
 */
let db: DB;
let drop: () => Promise<void>;
let temporalCalls = 0;
let app: ReturnType<typeof appOver>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  app = appOver(db, { temporal: untouchableTemporal(() => (temporalCalls += 1)) });
});
afterAll(() => drop());

describe('admin routes and the commerce key', () => {
  it('given every /v1/admin operation in the document, when called with a commerce key, then each is 403 forbidden and Temporal is never called', async () => {
    const document = (await app.api.get('/openapi.json')).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/admin'))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ path, method })));
    expect(operations.length).toBeGreaterThanOrEqual(15);
    const answers: string[] = [];
    for (const { path, method } of operations) {
      const concrete = path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      const response = await app.app.request(concrete, {
        method: method.toUpperCase(),
        headers: { authorization: `Bearer ${KEYS.commerce}`, 'content-type': 'application/json' },
        ...(method === 'get' ? {} : { body: '{}' }),
      });
      answers.push(`${method.toUpperCase()} ${path} ${response.status}`);
    }
    expect(answers.filter((answer) => !answer.endsWith(' 403'))).toEqual([]);
    expect(temporalCalls).toBe(0);
  });
});
