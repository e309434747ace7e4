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
  'WORKFLOW_BUNDLE_PATH',
  'NODE_OPTIONS',
  'MALLOC_ARENA_MAX',
] as const;
// results written beside the code do not change what runs
const NOT_CODE = ':(exclude)bench/results';

export interface RunEnvironment {
  /** the commit measured and the paths changed or added beside it (results excepted); null outside a git checkout */
  commit: { id: string; changed: string[] } | null;
  /** the worker cache the service ran with, as `npm start` reads it, or why it could not be read */
  workerMaxCachedWorkflows: number | { invalid: string };
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
      git('status', '--porcelain', '--untracked-files=all', '--', '.', NOT_CODE),
    ]);
    const changed = status.stdout.split('\n').filter((line) => line.trim() !== '');
    // each line is two status letters, a space, then the path
    commit = { id: head.stdout.trim(), changed: changed.map((line) => line.slice(3)) };
  } catch {
    // not a git checkout (an unpacked release): the run still measures
  }
  let workerMaxCachedWorkflows: RunEnvironment['workerMaxCachedWorkflows'];
  try {
    // that setting alone: another one set wrong is not this figure's concern
    const cache = loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: process.env.WORKER_MAX_CACHED_WORKFLOWS });
    workerMaxCachedWorkflows = cache.workerMaxCachedWorkflows ?? DEFAULT_MAX_CACHED_WORKFLOWS;
  } catch (error) {
    workerMaxCachedWorkflows = { invalid: error instanceof Error ? error.message : String(error) };
  }
  const settings = Object.fromEntries(
    SETTINGS.flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
  ) as RunEnvironment['settings'];
  return { commit, workerMaxCachedWorkflows, settings };
}
