import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataFolderInUseError, lockDataFolder } from '../../runtime/data-folder-lock';

/**
 * One `npm start` per data folder: of any number of starts racing for one folder exactly one holds it, whatever
 * record an earlier, killed start left behind, and the kernel frees it when its holder dies.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let dir: string;
const children: Array<ReturnType<typeof spawn>> = [];
const releases: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-lock-'));
});
afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const release of releases.splice(0)) await release();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Another process that takes the lock on `folder`, prints what happened and holds it until killed. */
function lockInChild(folder: string): Promise<{ outcome: string; child: ReturnType<typeof spawn> }> {
  const script = `
    import { lockDataFolder } from ${JSON.stringify(path.join(ROOT, 'runtime/data-folder-lock.ts'))};
    try { await lockDataFolder(process.argv[1]); process.stdout.write('held\\n'); setInterval(() => {}, 1000); }
    catch (error) { process.stdout.write('refused: ' + error.message + '\\n'); process.exit(0); }`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, folder], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve({ outcome: output.trim(), child });
    });
    child.once('exit', (code) =>
      output.includes('\n') ? undefined : reject(new Error(`lock child exited ${code}: ${output}`)),
    );
  });
}

describe('data folder lock', () => {
  it('given many starts racing for one folder, then exactly one holds it, also when a killed start left its record', async () => {
    for (const stale of [undefined, '', `${JSON.stringify({ pid: 999_999_999, startTicks: '1' })}\n`]) {
      const folder = await mkdtemp(path.join(dir, 'race-'));
      if (stale !== undefined) await writeFile(path.join(folder, 'npm-start.pid'), stale);
      const attempts = await Promise.all(Array.from({ length: 6 }, () => lockInChild(folder)));
      expect(attempts.filter((attempt) => attempt.outcome === 'held')).toHaveLength(1);
      const holder = attempts.find((attempt) => attempt.outcome === 'held')!.child;
      for (const attempt of attempts.filter((a) => a.outcome !== 'held')) {
        expect(attempt.outcome).toContain(`${folder} is in use by another npm start (pid ${holder.pid})`);
      }
      for (const attempt of attempts) attempt.child.kill('SIGKILL');
    }
  }, 60_000);

  it('given the holder is killed, then the folder is free at once, and a release by a start that did not win leaves the holder alone', async () => {
    const folder = await mkdtemp(path.join(dir, 'killed-'));
    const first = await lockInChild(folder);
    expect(first.outcome).toBe('held');
    await expect(lockDataFolder(folder)).rejects.toThrow(DataFolderInUseError);
    // the refused attempt deleted nothing: the holder's record is still there
    expect(JSON.parse(await readFile(path.join(folder, 'npm-start.pid'), 'utf8'))).toMatchObject({
      pid: first.child.pid,
    });

    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const release = await lockDataFolder(folder);
    releases.push(release);
    expect(JSON.parse(await readFile(path.join(folder, 'npm-start.pid'), 'utf8'))).toMatchObject({ pid: process.pid });
    const other = await lockInChild(folder);
    expect(other.outcome).toContain(`in use by another npm start (pid ${process.pid})`);
  }, 60_000);

  it('given the lock released, then the next start takes it; the same folder by another path is the same lock', async () => {
    const folder = await mkdtemp(path.join(dir, 'again-'));
    const release = await lockDataFolder(folder);
    await expect(lockDataFolder(path.join(folder, '..', path.basename(folder)))).rejects.toThrow(DataFolderInUseError);
    await release();
    releases.push(await lockDataFolder(folder));
  });
});
