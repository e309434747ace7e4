import type { RouterRoute } from 'hono/types';

/**
 * The methods a path takes, from the app's own routing table, so a known path called with a method it does not take
 * is answered 405 with `Allow` (RFC 9110) instead of a 404 that says the resource does not exist. Built from the
 * routes as mounted, so a route file added later is covered without a list to keep up to date.
 */
export function allowedMethodsOf(routes: readonly RouterRoute[]): (path: string) => string[] {
  const table = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    // Middleware is registered as ALL; only real handlers say what a path takes.
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    const entry = table.get(route.path) ?? { pattern: toPattern(route.path), methods: new Set<string>() };
    entry.methods.add(route.method.toUpperCase());
    table.set(route.path, entry);
  }
  return (path) => {
    const methods = new Set<string>();
    for (const { pattern, methods: taken } of table.values()) {
      if (pattern.test(path)) taken.forEach((method) => methods.add(method));
    }
    // Hono answers HEAD with the GET handler.
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}

/** `/v1/referrals/:id` → a regex matching one path segment per parameter. */
function toPattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}
