import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { processCommandLine, processWorkingDirectory, stopProcess } from './process-table';

/**
 * A PostgreSQL server still running on `cluster` from an earlier start that was killed before it could stop it.
 * PostgreSQL's own lock file (postmaster.pid) names it; it is ours when that process is a `postgres` running in the
 * cluster folder (the postmaster chdirs there), so a recycled pid is never taken for it.
 */
export async function leftoverPostmaster(cluster: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(cluster, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const cwd = processWorkingDirectory(pid);
  const executable = processCommandLine(pid)?.[0];
  if (!cwd || !executable || path.basename(executable) !== 'postgres') return undefined;
  return cwd === (await realpath(cluster)) ? pid : undefined;
}

/** Fast shutdown (SIGINT: sessions end, a checkpoint is written); immediate shutdown if that takes too long. */
export const stopPostmaster = (pid: number): Promise<void> =>
  stopProcess(pid, { signal: 'SIGINT', forceSignal: 'SIGQUIT', graceMs: 30_000 });
