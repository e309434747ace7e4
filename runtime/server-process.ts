import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
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
 *   which then execs the server, so the server keeps its pid as our direct child). Where setpriv is missing or too
 *   old to know --pdeathsig (util-linux before 2.33), the callers' pid files let the next start find and stop what
 *   was left behind.
 */
export function spawnServer(
  command: string,
  args: string[],
  options: {
    stopSignal: 'SIGTERM' | 'SIGINT';
    uid?: number | undefined;
    gid?: number | undefined;
    env?: NodeJS.ProcessEnv;
  },
): ServerProcess {
  const setpriv = setprivWithPdeathsig();
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

export interface StopOptions {
  signal: NodeJS.Signals;
  /** sent when the process is still there after `graceMs` */
  forceSignal: NodeJS.Signals;
  graceMs: number;
  /** SIGKILL when it is still there this long after `forceSignal` */
  killAfterMs?: number;
  /** an error when it is still there this long after SIGKILL (a process in uninterruptible sleep) */
  giveUpAfterMs?: number;
}

/**
 * Sends `signal` and waits until the process is gone: `forceSignal` after `graceMs`, SIGKILL after `killAfterMs`
 * more, and an error naming it after `giveUpAfterMs` more, so a stop always ends. A stopped process (SIGSTOP) is
 * continued, so it can act on the signal.
 */
export async function stopServer(child: ServerProcess, options: StopOptions): Promise<void> {
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  if (gone()) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await stopWith((signal) => child.kill(signal), exited, options, `pid ${child.pid}`);
}

/** The escalation shared by our children and by leftovers of earlier runs; `exited` resolves when the process is gone. */
export async function stopWith(
  send: (signal: NodeJS.Signals) => void,
  exited: Promise<void>,
  options: StopOptions,
  name: string,
): Promise<void> {
  const steps: Array<[number, () => void]> = [
    [
      0,
      () => {
        send(options.signal);
        send('SIGCONT');
      },
    ],
    [options.graceMs, () => send(options.forceSignal)],
    [options.killAfterMs ?? 10_000, () => send('SIGKILL')],
  ];
  const timers: NodeJS.Timeout[] = [];
  let at = 0;
  for (const [after, step] of steps) {
    at += after;
    if (at === 0) step();
    else timers.push(setTimeout(step, at));
  }
  const giveUpAt = at + (options.giveUpAfterMs ?? 10_000);
  const giveUp = new Promise<never>((_, reject) => {
    timers.push(
      setTimeout(
        () =>
          reject(
            new Error(
              `${name} is still there ${giveUpAt} ms after ${options.signal}, SIGKILL included: giving up on it`,
            ),
          ),
        giveUpAt,
      ),
    );
  });
  try {
    await Promise.race([exited, giveUp]);
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

let setprivPath: string | null | undefined;

function setprivWithPdeathsig(): string | null {
  if (setprivPath === undefined)
    setprivPath = process.platform === 'linux' ? findSetpriv(process.env.PATH ?? '') : null;
  return setprivPath;
}

/** The first `setpriv` on `searchPath` (then /usr/bin, /bin), if it knows --pdeathsig; exported for its test. */
export function findSetpriv(searchPath: string): string | null {
  for (const folder of [...searchPath.split(path.delimiter), '/usr/bin', '/bin']) {
    if (!folder) continue;
    const candidate = path.join(folder, 'setpriv');
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5_000 });
    return `${help.stdout ?? ''}${help.stderr ?? ''}`.includes('--pdeathsig') ? candidate : null;
  }
  return null;
}
