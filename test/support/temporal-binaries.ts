import { temporalServerInstalled } from '../../runtime/temporal-postgres-server';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The installed Temporal binaries (scripts/install-temporal-tools.sh), or undefined to let @temporalio/testing
 * download its own where the network allows.
 */
export function testServerExecutable(): { type: 'existing-path'; path: string } | undefined {
  const candidate = process.env.TEMPORAL_TEST_SERVER_PATH ?? path.join(ROOT, '.tools/test-server/test-server');
  return existsSync(candidate) ? { type: 'existing-path', path: candidate } : undefined;
}

export function cliExecutable(): { type: 'existing-path'; path: string } | undefined {
  const candidate = process.env.TEMPORAL_CLI_PATH ?? path.join(ROOT, '.tools/bin/temporal');
  return existsSync(candidate) ? { type: 'existing-path', path: candidate } : undefined;
}

/**
 * The tests of the production shape need the Temporal server `npm test` builds (scripts/install-temporal-server.sh).
 * Without it they fail, saying how to build it, unless `TEMPORAL_SERVER=0` left it out on purpose: then they skip.
 */
export function requireTemporalServer(context: { skip: (note?: string) => never }): void {
  if (temporalServerInstalled()) return;
  const build = '`npm run tools:server` builds it (Go, a few minutes)';
  if (process.env.TEMPORAL_SERVER === '0')
    context.skip(`TEMPORAL_SERVER=0: no Temporal server on PostgreSQL; ${build}`);
  throw new Error(`no Temporal server in .tools: ${build}; TEMPORAL_SERVER=0 leaves these tests out`);
}
