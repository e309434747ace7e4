import { OpenAPIHono } from '@hono/zod-openapi';
import type { FieldError } from '../intake/errors';
import type { AppEnv } from './deps';
import { Problem } from './problems';
import { unstorableText } from './schemas';

/**
 * Every string anywhere in what a request carries (path, query, headers, JSON body, nested objects, keys too) that
 * PostgreSQL could not store. Checked here, once for every route, rather than field by field: a field added later
 * (or typed loosely, like a free-form record) is covered without anyone remembering to.
 */
function unstorableStrings(value: unknown, path: string[] = [], found: FieldError[] = []): FieldError[] {
  if (typeof value === 'string') {
    const message = unstorableText(value);
    if (message) found.push({ path: path.join('.') || '(body)', message });
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => unstorableStrings(item, [...path, String(index)], found));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const message = unstorableText(key);
      if (message) found.push({ path: [...path, key].join('.'), message: `property name ${message}` });
      unstorableStrings(item, [...path, key], found);
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
        : result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(body)', message: issue.message }));
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
