import { readFileSync, readlinkSync } from 'node:fs';
import { stopWith, type StopOptions } from './server-process';

/**
 * What Linux's /proc says about a process, to tell a server we started from whatever process later got its pid.
 * Everything answers undefined when the process is gone (or a zombie), or when there is no /proc to ask.
 */

/** When the process started, in clock ticks since boot: with the pid, it names one process for the machine's uptime. */
export function processStartTicks(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count the fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  return fields[19];
}

export function processCommandLine(pid: number): string[] | undefined {
  const cmdline = readProc(`/proc/${pid}/cmdline`);
  return cmdline === undefined ? undefined : cmdline.split('\0').filter(Boolean);
}

/** The folder the process runs in; PostgreSQL's postmaster runs in its data folder. */
export function processWorkingDirectory(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

export const isRunning = (pid: number): boolean => processStartTicks(pid) !== undefined;

/**
 * Sends `signal` to a process that is not our child (a server left by an earlier run) and waits until it is gone,
 * escalating as stopServer does (forceSignal, then SIGKILL, then an error), so the wait always ends.
 */
export async function stopProcess(pid: number, options: StopOptions): Promise<void> {
  const started = processStartTicks(pid);
  if (started === undefined) return;
  let polling = true;
  const exited = (async () => {
    while (polling && processStartTicks(pid) === started) await new Promise((resolve) => setTimeout(resolve, 50));
  })();
  try {
    // Only while it is the same process: a recycled pid is never signalled.
    await stopWith((name) => processStartTicks(pid) === started && signal(pid, name), exited, options, `pid ${pid}`);
  } finally {
    polling = false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether this machine has a /proc to ask; without it nothing here can tell a process apart, so act on nothing. */
export const canTellProcesses = (): boolean => processStartTicks(process.pid) !== undefined;
