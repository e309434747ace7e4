import { createRoute, z } from '@hono/zod-openapi';
import { IntakeError } from '../intake/errors';
import { listAdminAudit } from '../intake/admin-audit';
import { createRouter } from './hono';
import { Id, Instant, InstantOut, PageQuery, problems, ReferralId } from './schemas';

const AuditEntry = z
  .object({
    id: z.string().openapi({ description: 'the entry’s place in the log; later entries have greater ids' }),
    at: InstantOut.openapi({ description: 'when the workflow applied the action' }),
    actor: z.string().openapi({ description: 'the name of the API key that asked for it' }),
    action: z.enum(['approve', 'reject', 'cancel', 'extend', 'move']),
    referralId: z.string(),
    requestId: z.string(),
    reason: z.string().nullable(),
    before: z
      .record(z.string(), z.unknown())
      .openapi({ description: 'the referral as the action found it: status, deadlines, review' }),
    after: z.record(z.string(), z.unknown()).openapi({ description: 'the referral as the action left it' }),
  })
  .openapi('AdminAuditEntry');

const AuditPage = z
  .object({
    items: z.array(AuditEntry),
    nextCursor: z.string().nullable().openapi({ description: 'pass as cursor for the next page; null on the last' }),
  })
  .openapi('AdminAuditPage');

const AuditQuery = z.object({
  referralId: ReferralId.optional().openapi({ description: 'actions on this referral' }),
  actor: Id.optional().openapi({ description: 'actions asked for by this API key name' }),
  from: Instant.optional().openapi({ description: 'applied at or after this instant' }),
  to: Instant.optional().openapi({ description: 'applied before this instant' }),
  ...PageQuery('audit'),
});

/** Mounted at /v1/admin/audit. */
export const adminAuditRoutes = createRouter().openapi(
  createRoute({
    method: 'get',
    path: '/',
    operationId: 'listAdminAudit',
    tags: ['Admin'],
    summary: 'Admin actions on referrals matching every filter given, newest first',
    description:
      'Every approve, reject, cancel and extend the workflows applied, with who asked, why, and the referral before and after; refused actions are not in it. Pages follow (at, id), and entries are never changed or removed: paging while actions are recorded lists none twice and passes over none that was there when the first page was read. Instant ranges include their start and exclude their end.',
    request: { query: AuditQuery },
    responses: {
      200: { description: 'a page of audit entries', content: { 'application/json': { schema: AuditPage } } },
      ...problems(400, 401, 403, 422, 500),
    },
  }),
  async (c) => {
    const query = c.req.valid('query');
    // allowed by the document, refused as a rule (422), like a foreign cursor
    if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) > Date.parse(query.to))
      throw new IntakeError('validation_failed', 'to lies before from', [
        { path: 'to', message: 'must not lie before from' },
      ]);
    return c.json(await listAdminAudit(c.var.deps, query), 200);
  },
);
