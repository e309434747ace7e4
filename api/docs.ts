import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { swaggerUI } from '@hono/swagger-ui';
import { Hono } from 'hono';
import type { AppEnv } from './deps';

const ASSETS_BASE = '/docs/assets';
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};
const distFolder = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/**
 * The API reference page. Its assets are served from the installed swagger-ui-dist rather than a CDN, so the page
 * works on a network that reaches nothing but this service.
 */
export const docsRoutes = new Hono<AppEnv>()
  .get('/docs', swaggerUI({ url: '/openapi.json', baseUrl: ASSETS_BASE, title: 'Referral engine API' }))
  .get(`${ASSETS_BASE}/swagger-ui-dist/:file`, async (c) => {
    const file = c.req.param('file');
    const type = ASSETS[file];
    if (!type) return c.notFound();
    const body = await readFile(path.join(distFolder, file));
    return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
  });
