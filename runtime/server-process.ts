import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export type ServerProcess = ChildProcessByStdio<null, Readable, Readable>;

/**
 * A server process we start and own (the Temporal dev server, the embedded PostgreSQL), with two promises:
 *
 * - It is in its own process group (detached), so a terminal's Ctrl-C, sent to the whole foreground group, reaches
 *   only us: we stop the servers ourselves, after the API and the worker that use them.
 * - It does not outlive us. When we exit it gets `stopSignal`; when we are killed (SIGKILL, no handler runs), Linux
 *   sends it that signal because its parent died (prctl PR_SET_PDEATHSIG, set by util-linux's `setpriv --pdeathsig`,
 *   which then execs the server, so the server keeps its pid as our direct child). Where setpriv is missing, the
 *   callers' pid files let the next start find and stop what was left behind.
 */
export function spawnServer(
  command: string,
  args: string[],
  options: { stopSignal: 'SIGTERM' | 'SIGINT'; uid?: number | undefined; gid?: number | undefined; env?: NodeJS.ProcessEnv },
): ServerProcess {
  const setpriv = findSetpriv();
  const [file, argv] = setpriv
    ? [setpriv, ['--pdeathsig', options.stopSignal.replace('SIG', ''), '--', command, ...args]]
    : [command, args];
  const child = spawn(file, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    // libuv changes folder before it drops to `uid`: start in one every user can enter.
    cwd: '/',
    env: options.env ?? process.env,
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  });
  const stopOnExit = () => child.kill(options.stopSignal);
  process.once('exit', stopOnExit);
  child.once('exit', () => process.removeListener('exit', stopOnExit));
  return child;
}

/** Sends `signal` and waits until the process is gone; `forceSignal` if it is still there after `graceMs`. */
export async function stopServer(
  child: ServerProcess,
  options: { signal: NodeJS.Signals; forceSignal: NodeJS.Signals; graceMs: number },
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(options.signal);
  const timer = setTimeout(() => child.kill(options.forceSignal), options.graceMs);
  await exited;
  clearTimeout(timer);
}

let setprivPath: string | null | undefined;

function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const folder of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/bin']) {
    if (!folder) continue;
    const candidate = path.join(folder, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
      return (setprivPath = candidate);
    } catch {
      // not in this folder
    }
  }
  return setprivPath;
}
