import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { Problem } from './problems';

/**
 * Every router is made here, so validation failures have one shape everywhere: problem+json with the fields at
 * fault.
 */
export const createRouter = () =>
  new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const errors = result.error.issues.map((issue) => ({
          path: issue.path.map(String).join('.') || '(body)',
          message: issue.message,
        }));
        throw new Problem(400, 'validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
      }
    },
  });
