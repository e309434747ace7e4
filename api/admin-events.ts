import { createRoute, z } from '@hono/zod-openapi';
import { listFailedEvents, redeliverFailedEvent } from '../intake/failed-events';
import { createRouter } from './hono';
import { Id, InstantOut, PageQuery, problems } from './schemas';

const FailedEvent = z
  .object({
    eventId: z.string(),
    kind: z.enum(['signup', 'order']),
    reason: z.string().openapi({ description: 'why the last delivery failed' }),
    attempts: z.number().int(),
    lastAttemptAt: InstantOut.nullable(),
  })
  .openapi('FailedEvent');

const FailedEventPage = z
  .object({ items: z.array(FailedEvent), nextCursor: z.string().nullable() })
  .openapi('FailedEventPage');

export const adminEventRoutes = createRouter()
  .openapi(
    createRoute({
      method: 'get',
      path: '/failed',
      operationId: 'listFailedEvents',
      tags: ['Admin'],
      summary: 'Events the inbox relay set aside after repeated failed deliveries, most recently tried first',
      request: { query: z.object(PageQuery('failed-events')) },
      responses: {
        200: { description: 'a page of failed events', content: { 'application/json': { schema: FailedEventPage } } },
        ...problems(400, 401, 403, 422, 500),
      },
    }),
    async (c) => c.json(await listFailedEvents(c.var.deps, c.req.valid('query')), 200),
  )
  .openapi(
    createRoute({
      method: 'post',
      path: '/{eventId}/redelivery',
      operationId: 'redeliverFailedEvent',
      tags: ['Admin'],
      summary: 'Hand a failed event back to the relay, due now, with its attempts counted afresh',
      request: { params: z.object({ eventId: Id.openapi({ param: { name: 'eventId', in: 'path' } }) }) },
      responses: {
        202: {
          description: 'queued for delivery',
          content: {
            'application/json': {
              schema: z.object({ eventId: z.string(), queued: z.literal(true) }).openapi('RedeliveryQueued'),
            },
          },
        },
        ...problems(400, 401, 403, 404, 413, 500),
      },
    }),
    async (c) => {
      const { eventId } = c.req.valid('param');
      await redeliverFailedEvent(c.var.deps, { eventId, actor: c.var.actor });
      return c.json({ eventId, queued: true as const }, 202);
    },
  );
