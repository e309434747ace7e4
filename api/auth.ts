import { createHash, timingSafeEqual } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import type { ApiKey, Role } from '../runtime/api-keys';
import type { AppEnv } from './deps';
import { Problem } from './problems';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * `Authorization: Bearer <key>`. Every configured key is compared, in constant time over equal-length digests, so
 * neither timing nor the position of a match tells an attacker anything.
 */
export function apiKeyAuth(keys: ApiKey[]) {
  const known = keys.map((key) => ({ key, digest: digest(key.secret) }));
  return createMiddleware<AppEnv>(async function apiKeyAuthMiddleware(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match) throw new Problem(401, 'unauthorized', 'send Authorization: Bearer <api key>');
    const presented = digest(match[1]!);
    let found: ApiKey | undefined;
    for (const candidate of known) {
      if (timingSafeEqual(candidate.digest, presented)) found = candidate.key;
    }
    if (!found) throw new Problem(401, 'unauthorized', 'unknown API key');
    c.set('actor', found.name);
    c.set('role', found.role);
    await next();
  });
}

export function requireRole(role: Role) {
  return createMiddleware<AppEnv>(async function requireRoleMiddleware(c, next) {
    if (c.get('role') !== role)
      throw new Problem(403, 'forbidden', `this route needs an API key with the ${role} role`);
    await next();
  });
}
