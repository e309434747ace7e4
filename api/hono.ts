import { OpenAPIHono } from '@hono/zod-openapi';
import type { FieldError } from '../intake/errors';
import type { AppEnv } from './deps';
import { Problem } from './problems';
import { unstorableText } from './schemas';

/** How deep a request's JSON may nest, and how many values it may hold, before it is refused unread: no request schema comes near either, and a walk past them would only spend the server's time (or, recursing, its stack). */
export const MAX_NESTING = 64;
export const MAX_VALUES = 100_000;

/** One value still to look at, with how it was reached: the path is only spelled out for a finding. */
interface Visit {
  value: unknown;
  key: string | undefined;
  parent: Visit | undefined;
  depth: number;
}

const pathOf = (visit: Visit | undefined): string[] => {
  const keys: string[] = [];
  for (let at = visit; at?.key !== undefined; at = at.parent) keys.push(at.key);
  return keys.reverse();
};

/**
 * Every string anywhere in what a request carries (path, query, headers, JSON body, nested objects, keys too) that
 * PostgreSQL could not store. Checked here, once for every route, rather than field by field: a field added later
 * (or typed loosely, like a free-form record) is covered without anyone remembering to. Walked with a stack of its
 * own, not by recursion: a 4 KB body of nested arrays is thousands of levels deep, and is refused as too deeply
 * nested rather than exhausting the call stack.
 */
export function unstorableStrings(value: unknown): FieldError[] {
  const found: FieldError[] = [];
  const stack: Visit[] = [{ value, key: undefined, parent: undefined, depth: 0 }];
  let values = 0;
  while (stack.length > 0) {
    const visit = stack.pop()!;
    values += 1;
    if (visit.depth > MAX_NESTING)
      return [{ path: '(body)', message: `too deeply nested (more than ${MAX_NESTING} levels)` }];
    if (values > MAX_VALUES) return [{ path: '(body)', message: `too many values (more than ${MAX_VALUES})` }];
    const item = visit.value;
    if (typeof item === 'string') {
      const message = unstorableText(item);
      if (message) found.push({ path: pathOf(visit).join('.') || '(body)', message });
    } else if (item !== null && typeof item === 'object') {
      const entries = Array.isArray(item)
        ? item.map((child, index) => [String(index), child] as const)
        : Object.entries(item);
      const children: Visit[] = [];
      for (const [key, child] of entries) {
        const message = unstorableText(key);
        if (message) found.push({ path: [...pathOf(visit), key].join('.'), message: `property name ${message}` });
        children.push({ value: child, key, parent: visit, depth: visit.depth + 1 });
      }
      // Last pushed, first visited: findings come out in the order the fields were sent.
      for (let i = children.length - 1; i >= 0; i -= 1) stack.push(children[i]!);
    }
  }
  return found;
}

/**
 * Every router is made here, so validation failures have one shape everywhere: problem+json with the fields at
 * fault.
 */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      const errors: FieldError[] = result.success
        ? []
        : result.error.issues.map((issue) => ({
            path: issue.path.map(String).join('.') || '(body)',
            message: issue.message,
          }));
      // The input as sent: a refused request is searched too, so one answer names every field at fault.
      const sent = (result as { data?: unknown }).data;
      for (const error of unstorableStrings(sent)) {
        if (!errors.some((e) => e.path === error.path && e.message === error.message)) errors.push(error);
      }
      if (errors.length > 0) {
        throw new Problem(400, 'validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
      }
    },
  });
