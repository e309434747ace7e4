import { sql } from 'kysely';
import { Hono } from 'hono';
import type { AppEnv } from './deps';

/** Liveness says the process answers; readiness says its database and Temporal answer too. */
export const healthRoutes = new Hono<AppEnv>()
  .get('/healthz', (c) => c.json({ status: 'ok' }))
  .get('/readyz', async (c) => {
    const { deps } = c.var;
    const checks = await Promise.allSettled([
      sql`select 1`.execute(deps.db),
      deps.temporal.withDeadline(Date.now() + 3_000, () => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const [database, temporal] = checks.map((r) => (r.status === 'fulfilled' ? 'ok' : 'unavailable'));
    const ready = database === 'ok' && temporal === 'ok';
    return c.json({ status: ready ? 'ready' : 'not_ready', database, temporal }, ready ? 200 : 503);
  });
