import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRunning, processStartTicks, stopProcess } from '../../runtime/process-table';
import { findSetpriv, spawnServer, stopServer } from '../../runtime/server-process';

/** Stopping a server always ends, and the parent-death signal is asked only of a setpriv that knows it. */
let dir: string;
const started: Array<{ pid: number; ticks: string | undefined }> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-server-process-'));
});
afterEach(() => {
  for (const { pid, ticks } of started.splice(0)) {
    if (ticks !== undefined && processStartTicks(pid) === ticks) process.kill(pid, 'SIGKILL');
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Not our child's child: stands for a server an earlier run left behind. */
function leftover(script: string): number {
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  started.push({ pid: child.pid!, ticks: processStartTicks(child.pid!) });
  return child.pid!;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('stopping a server', () => {
  it('given a leftover that ignores its stop signals, then it is killed after the deadline', async () => {
    const pid = leftover('trap "" TERM INT QUIT; exec sleep 600');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await stopProcess(pid, { signal: 'SIGTERM', forceSignal: 'SIGQUIT', graceMs: 100, killAfterMs: 200 });
    expect(isRunning(pid)).toBe(false);
  }, 10_000);

  it('given a leftover that was stopped (SIGSTOP), then it is continued so it can exit, and is gone', async () => {
    const pid = leftover('exec sleep 600');
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.kill(pid, 'SIGSTOP');
    await stopProcess(pid, { signal: 'SIGTERM', forceSignal: 'SIGTERM', graceMs: 100, killAfterMs: 200 });
    expect(isRunning(pid)).toBe(false);
  }, 10_000);

  it('given a server of ours that ignores its stop signals, then it is killed after the deadline', async () => {
    const child = spawnServer('sh', ['-c', 'trap "" INT QUIT; exec sleep 600'], { stopSignal: 'SIGINT' });
    started.push({ pid: child.pid!, ticks: processStartTicks(child.pid!) });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await stopServer(child, { signal: 'SIGINT', forceSignal: 'SIGQUIT', graceMs: 100, killAfterMs: 200 });
    await until(() => !isRunning(child.pid!));
    expect(child.signalCode).toBe('SIGKILL');
  }, 10_000);
});

describe('the parent-death signal', () => {
  async function fakeSetpriv(folder: string, help: string): Promise<void> {
    await writeFile(path.join(folder, 'setpriv'), `#!/bin/sh\necho '${help}'\n`);
    await chmod(path.join(folder, 'setpriv'), 0o755);
  }

  it('given a setpriv without --pdeathsig (util-linux before 2.33), then it is not used', async () => {
    const old = await mkdtemp(path.join(dir, 'old-'));
    await fakeSetpriv(old, ' --reuid <user>   set real and effective user id');
    expect(findSetpriv(old)).toBeNull();
  });

  it('given a setpriv with --pdeathsig, then it is used', async () => {
    const recent = await mkdtemp(path.join(dir, 'recent-'));
    await fakeSetpriv(recent, ' --pdeathsig keep|clear|<signame>  set or clear parent death signal');
    expect(findSetpriv(recent)).toBe(path.join(recent, 'setpriv'));
  });
});
