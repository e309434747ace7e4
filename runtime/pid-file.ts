import { readFile, rm, writeFile } from 'node:fs/promises';
import { processStartTicks } from './process-table';

/**
 * A pid file that names one process, not just a pid: the pid with its start time. A pid reused by an unrelated
 * process after a reboot or a long run does not match, so a stale file is never taken for a live server. Without a
 * /proc to read start times from (macOS), nothing can be confirmed: no file is written and none is read as live, so a
 * leftover is never stopped on doubt (its port then stops the next start, naming the port).
 */
export interface ProcessRecord {
  pid: number;
  startTicks: string;
}

export async function writePidFile(file: string, pid: number): Promise<void> {
  const startTicks = processStartTicks(pid);
  if (startTicks === undefined) return;
  await writeFile(file, `${JSON.stringify({ pid, startTicks } satisfies ProcessRecord)}\n`, { mode: 0o644 });
}

/** The process the file names, if it is still running; undefined for a missing, unreadable or stale file. */
export async function readLivePidFile(file: string): Promise<ProcessRecord | undefined> {
  let record: Partial<ProcessRecord>;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as Partial<ProcessRecord>;
  } catch {
    return undefined;
  }
  if (typeof record.pid !== 'number' || typeof record.startTicks !== 'string') return undefined;
  return processStartTicks(record.pid) === record.startTicks
    ? { pid: record.pid, startTicks: record.startTicks }
    : undefined;
}

export const removePidFile = (file: string): Promise<void> => rm(file, { force: true });
