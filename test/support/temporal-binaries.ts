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

export const WORKFLOWS_PATH = path.join(ROOT, 'workflows/index.ts');
