import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../runtime/config';
import { DEFAULT_MAX_CACHED_WORKFLOWS } from '../../runtime/worker';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// what the service's memory and speed depend on besides the code: its settings, V8's flags and the C allocator's
const SETTINGS = [
  'WORKER_MAX_CACHED_WORKFLOWS',
  'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS',
  'DATABASE_POOL_SIZE',
  'NODE_OPTIONS',
  'MALLOC_ARENA_MAX',
] as const;

export interface RunEnvironment {
  /** the commit measured, and whether its tracked files had changes (results beside it do not count); null outside git */
  commit: { id: string; changed: boolean } | null;
  /** the worker cache the service ran with, as `npm start` reads it; null when the settings do not load */
  workerMaxCachedWorkflows: number | null;
  /** the settings above that were set for the run */
  settings: Partial<Record<(typeof SETTINGS)[number], string>>;
}

/** What a run's figures depend on besides its options, written beside them so a result says what it measured. */
export async function runEnvironment(): Promise<RunEnvironment> {
  const git = (...args: string[]) => promisify(execFile)('git', args, { cwd: ROOT, encoding: 'utf8' });
  let commit: RunEnvironment['commit'] = null;
  try {
    const [head, status] = await Promise.all([
      git('rev-parse', 'HEAD'),
      git('status', '--porcelain', '--untracked-files=no'),
    ]);
    commit = { id: head.stdout.trim(), changed: status.stdout.trim() !== '' };
  } catch {
    // not a git checkout (an unpacked release): the run still measures
  }
  let workerMaxCachedWorkflows: number | null;
  try {
    workerMaxCachedWorkflows = loadConfig(process.env).workerMaxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS;
  } catch {
    workerMaxCachedWorkflows = null;
  }
  const settings = Object.fromEntries(
    SETTINGS.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
  ) as RunEnvironment['settings'];
  return { commit, workerMaxCachedWorkflows, settings };
}
