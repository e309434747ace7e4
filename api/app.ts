import { HTTPException } from 'hono/http-exception';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { isDatabaseUnavailable } from '../db/connection';
import { IntakeError } from '../intake/errors';
import { isTemporalUnavailable } from '../intake/workflow-failures';
import { adminAuditRoutes } from './admin-audit';
import { adminCustomerRoutes } from './admin-customers';
import { adminEventRoutes } from './admin-events';
import { adminFaultRoutes } from './admin-faults';
import { adminReferralRoutes, adminReviewQueueRoutes } from './admin-referrals';
import { adminTermMoveRoutes } from './admin-term-moves';
import { allowedMethodsOf } from './allowed-methods';
import { apiKeyAuth, requireRole } from './auth';
import { customerRoutes } from './customers';
import { docsRoutes } from './docs';
import type { AppDependencies } from './deps';
import { eventRoutes } from './events';
import { customerVoucherRoutes, voucherRoutes } from './vouchers';
import { healthRoutes } from './health';
import { createRouter } from './hono';
import { Problem, problemFromIntake, problemResponse } from './problems';
import { pointRoutes } from './points';
import { programRoutes } from './programs';
import { referralRoutes } from './referrals';

export const MAX_BODY_BYTES = 64 * 1024;

/** The HTTP API over its dependencies. Only the entry point listens on a port; tests call `app.request()`. */
export function createApp(deps: AppDependencies) {
  const app = createRouter();

  app.use('*', requestId());
  app.use('*', async function injectDependencies(c, next) {
    c.set('deps', deps);
    await next();
  });
  app.use('*', async function logRequest(c, next) {
    const started = performance.now();
    await next();
    deps.logger.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        actor: c.get('actor'),
        ms: Math.round(performance.now() - started),
      },
      'request',
    );
  });

  app.route('/', healthRoutes);

  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new Problem(413, 'payload_too_large', `bodies are limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.use('/v1/*', apiKeyAuth(deps.apiKeys));
  app.use('/v1/admin/*', requireRole('admin'));

  app.route('/v1/referrals', referralRoutes);
  app.route('/v1/events', eventRoutes);
  app.route('/v1/customers', customerRoutes);
  app.route('/v1/customers', pointRoutes);
  app.route('/v1/customers', customerVoucherRoutes);
  app.route('/v1/vouchers', voucherRoutes);
  app.route('/v1/admin/customers', adminCustomerRoutes);
  app.route('/v1/admin/programs', programRoutes);
  app.route('/v1/admin/programs', adminTermMoveRoutes);
  app.route('/v1/admin/referrals', adminReferralRoutes);
  app.route('/v1/admin/review-queue', adminReviewQueueRoutes);
  app.route('/v1/admin/audit', adminAuditRoutes);
  app.route('/v1/admin/events', adminEventRoutes);
  app.route('/v1/admin/faults', adminFaultRoutes);

  app.openAPIRegistry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'an API key from API_KEYS (role commerce or admin)',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Referral lifecycle engine',
      version: '1',
      description:
        'Commerce events in, referral lifecycles out. Errors are application/problem+json (RFC 9457) with a stable `code`.',
    },
    security: [{ apiKey: [] }],
  });
  app.route('/', docsRoutes);

  // Read at the first miss, once every route is mounted.
  let allowedMethods: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    allowedMethods ??= allowedMethodsOf(app.routes);
    const allowed = allowedMethods(c.req.path);
    // A handler that took the request and found nothing (an asset that is not there) is a 404, not a wrong method.
    if (allowed.length > 0 && !allowed.includes(c.req.method.toUpperCase())) {
      return problemResponse(
        new Problem(405, 'method_not_allowed', `${c.req.path} takes ${allowed.join(', ')}, not ${c.req.method}`),
        c.req.path,
        { allow: allowed.join(', ') },
      );
    }
    return problemResponse(new Problem(404, 'not_found', `no route ${c.req.method} ${c.req.path}`), c.req.path);
  });

  app.onError((error, c) => {
    if (error instanceof Problem) return problemResponse(error, c.req.path);
    if (error instanceof IntakeError) return problemResponse(problemFromIntake(error), c.req.path);
    if (error instanceof HTTPException) {
      // Hono's own refusals: the JSON validator's parse failure, among others.
      if (error.status === 400 && /json/i.test(error.message)) {
        return problemResponse(new Problem(400, 'invalid_json', 'the body is not valid JSON'), c.req.path);
      }
      const code =
        error.status === 413
          ? 'payload_too_large'
          : error.status === 415
            ? 'unsupported_media_type'
            : 'validation_failed';
      return problemResponse(new Problem(error.status, code, error.message), c.req.path);
    }
    if (isTemporalUnavailable(error)) {
      deps.logger.warn({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'Temporal unavailable');
      return problemResponse(
        new Problem(503, 'temporarily_unavailable', 'Temporal did not answer in time; retry'),
        c.req.path,
      );
    }
    if (isDatabaseUnavailable(error)) {
      // The outage, not the request, is at fault: the pool reconnects once PostgreSQL is back, so the same request
      // then succeeds. A statement PostgreSQL refused stays a 500 below.
      deps.logger.warn({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'PostgreSQL unavailable');
      return problemResponse(
        new Problem(503, 'temporarily_unavailable', 'PostgreSQL could not be reached; retry'),
        c.req.path,
      );
    }
    deps.logger.error({ err: error, requestId: c.get('requestId'), path: c.req.path }, 'unhandled error');
    return problemResponse(
      new Problem(500, 'internal_error', `something went wrong; quote request id ${c.get('requestId')}`),
      c.req.path,
    );
  });

  return app;
}
