import {
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cachedCopy } from '../../runtime/postgres-binaries';
import { clusterFolder, type ClusterLog } from '../../runtime/postgres-data-folder';
import { canReach, postgresUser, type PostgresUser } from '../../runtime/postgres-user';

/**
 * As root, PostgreSQL runs as `postgres`; a data folder that user cannot reach gets its cluster in a root-owned
 * folder of its own, linked from the data folder. Here that folder is a throw-away one instead of /var/lib.
 */
const asRoot = process.getuid?.() === 0;
let dir: string;
let runAs: PostgresUser;
let umask: number;
const mode = async (file: string) => (await stat(file)).mode & 0o777;

beforeAll(async () => {
  if (!asRoot) return;
  runAs = await postgresUser();
  // Open to passing through, as /var/lib is: the clusters root inside is what is under test.
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-data-folder-'));
  await chmod(dir, 0o755);
});
afterEach(() => {
  if (umask !== undefined) process.umask(umask);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A data folder only root can reach (as under root's home), and a clusters root of its own. */
async function setup(): Promise<{ dataDir: string; postgresDir: string; clustersRoot: string }> {
  const base = await mkdtemp(path.join(dir, 'case-'));
  await chmod(base, 0o755);
  const dataDir = path.join(base, 'home/.data');
  await mkdir(dataDir, { recursive: true });
  await chmod(path.join(base, 'home'), 0o700);
  return {
    dataDir,
    postgresDir: path.join(dataDir, 'postgres'),
    clustersRoot: path.join(base, 'var/lib/referral-engine/postgres'),
  };
}

/** A log that keeps what it is told, with its level. */
function recorder(): ClusterLog & { lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  return Object.assign((line: string, level: string) => void lines.push([level, line]), { lines });
}

/** A cluster as initdb would leave one, with a row of data standing for the database. */
async function initialised(cluster: string, data: string): Promise<void> {
  await mkdir(cluster, { recursive: true, mode: 0o700 });
  await writeFile(path.join(cluster, 'PG_VERSION'), '18\n');
  await writeFile(path.join(cluster, 'the-data'), data);
}

describe.runIf(asRoot)('where the cluster of a data folder lives, as root', () => {
  it('given a relocated cluster whose data folder was deleted, when it starts again, then the old cluster is set aside with a warning naming where, never deleted', async () => {
    const { dataDir, postgresDir, clustersRoot } = await setup();
    const log = recorder();
    const cluster = await clusterFolder(postgresDir, runAs, log, { clustersRoot });
    expect(log.lines).toEqual([
      ['info', expect.stringContaining(`the PostgreSQL cluster lives in ${cluster}, linked from ${postgresDir}`)],
    ]);
    await initialised(cluster, 'first');
    await rm(dataDir, { recursive: true });

    const again = await clusterFolder(postgresDir, runAs, log, { clustersRoot });
    expect(again).toBe(cluster);
    const aside = (await readdir(clustersRoot)).filter((entry) =>
      entry.startsWith(`${path.basename(path.dirname(cluster))}.orphaned-`),
    );
    expect(aside).toHaveLength(1);
    expect(await readFile(path.join(clustersRoot, aside[0]!, 'cluster/the-data'), 'utf8')).toBe('first');
    expect(log.lines[1]).toEqual(['warn', expect.stringContaining(`kept at ${path.join(clustersRoot, aside[0]!)}`)]);
    expect(await readdir(cluster).catch(() => [])).toEqual([]);
  });

  it('given the same data folder reached through a link, then it finds the same cluster', async () => {
    const { dataDir, postgresDir, clustersRoot } = await setup();
    const cluster = await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot });
    const alias = path.join(path.dirname(path.dirname(dataDir)), 'alias');
    await symlink(dataDir, alias);
    const log = recorder();
    expect(await clusterFolder(path.join(alias, 'postgres'), runAs, log, { clustersRoot })).toBe(cluster);
    expect(log.lines).toEqual([]);
  });

  it('given a checkout moved elsewhere, when it starts there, then its cluster becomes the new place’s, data and all, and says so', async () => {
    const { dataDir, postgresDir, clustersRoot } = await setup();
    const cluster = await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot });
    await initialised(cluster, 'kept');
    const moved = path.join(path.dirname(path.dirname(dataDir)), 'moved');
    await rename(path.dirname(dataDir), moved);

    const log = recorder();
    const movedPostgres = path.join(moved, '.data/postgres');
    const rekeyed = await clusterFolder(movedPostgres, runAs, log, { clustersRoot });
    expect(rekeyed).not.toBe(cluster);
    expect(await readlink(movedPostgres)).toBe(rekeyed);
    expect(await readFile(path.join(rekeyed, 'the-data'), 'utf8')).toBe('kept');
    expect((await readFile(path.join(path.dirname(rekeyed), 'data-dir'), 'utf8')).trim()).toBe(movedPostgres);
    expect(log.lines).toEqual([
      ['info', expect.stringContaining(`made for ${postgresDir}, which no longer links to it`)],
    ]);
    // and it stays found
    expect(await clusterFolder(movedPostgres, runAs, () => {}, { clustersRoot })).toBe(rekeyed);
  });

  it('given a checkout copied with its link while the original still uses the cluster, then the copy is refused, naming the owner, and nothing moves', async () => {
    const { dataDir, postgresDir, clustersRoot } = await setup();
    const cluster = await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot });
    await initialised(cluster, 'original');
    const copy = path.join(path.dirname(path.dirname(dataDir)), 'copy/.data');
    await cp(dataDir, copy, { recursive: true, verbatimSymlinks: true });

    await expect(clusterFolder(path.join(copy, 'postgres'), runAs, () => {}, { clustersRoot })).rejects.toThrow(
      `links to the PostgreSQL cluster ${cluster}, which belongs to ${postgresDir}`,
    );
    expect(await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot })).toBe(cluster);
    expect(await readFile(path.join(cluster, 'the-data'), 'utf8')).toBe('original');
  });

  it('given a data folder of mode 700, when its cluster is placed, then the folder keeps its mode and the cluster lives in the clusters root', async () => {
    const { dataDir, postgresDir, clustersRoot } = await setup();
    await chmod(dataDir, 0o700);
    const cluster = await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot });
    expect(await mode(dataDir)).toBe(0o700);
    expect(cluster.startsWith(`${clustersRoot}/`)).toBe(true);
    expect(await readlink(postgresDir)).toBe(cluster);
  });

  it('given umask 027, when the clusters root and a cluster home are made, then postgres can reach them and they are root-owned and not writable by others', async () => {
    umask = process.umask(0o027);
    const { postgresDir, clustersRoot } = await setup();
    const cluster = await clusterFolder(postgresDir, runAs, () => {}, { clustersRoot });
    for (const folder of [path.dirname(clustersRoot), clustersRoot, path.dirname(cluster)]) {
      const info = await stat(folder);
      expect([folder, info.uid, info.mode & 0o777]).toEqual([folder, 0, 0o755]);
    }
    await mkdir(cluster, { mode: 0o700 });
    expect(canReach(runAs, path.dirname(cluster))).toBe(true);
  });

  it('given a clusters root others can write, then it is refused', async () => {
    const { postgresDir, clustersRoot } = await setup();
    await mkdir(clustersRoot, { recursive: true, mode: 0o755 });
    await chmod(clustersRoot, 0o777);
    await expect(clusterFolder(postgresDir, runAs, () => {}, { clustersRoot })).rejects.toThrow(
      /owned by root and writable only by root/,
    );
  });

  it('given umask 027 and binaries installed with it (no access for others), when they are cached, then postgres can read and run them', async () => {
    umask = process.umask(0o027);
    const base = await mkdtemp(path.join(dir, 'binaries-'));
    await chmod(base, 0o755);
    const native = path.join(base, 'native');
    await mkdir(path.join(native, 'bin'), { recursive: true });
    await writeFile(path.join(native, 'bin/postgres'), '#!/bin/sh\nexit 0\n', { mode: 0o750 });
    await mkdir(path.join(native, 'lib'));
    await writeFile(path.join(native, 'lib/libpq.so.5.18'), 'library', { mode: 0o640 });
    await symlink('libpq.so.5.18', path.join(native, 'lib/libpq.so.5'));
    const cache = path.join(base, 'cache/referral-engine');

    const binaries = await cachedCopy(native, 'postgres-test-1.0', cache);
    expect(canReach(runAs, binaries.postgres)).toBe(true);
    const copied = path.dirname(path.dirname(binaries.postgres));
    expect(await mode(path.join(copied, 'lib/libpq.so.5.18'))).toBe(0o644);
    expect(await mode(path.join(copied, 'bin'))).toBe(0o755);
    expect((await lstat(path.join(copied, 'lib/libpq.so.5'))).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(copied, 'lib/libpq.so.5'), 'utf8')).toBe('library');
    expect([await mode(path.dirname(cache)), await mode(cache)]).toEqual([0o755, 0o755]);

    // a copy a killed start left half-made is cleared by the next start
    await mkdir(path.join(cache, `${path.basename(copied)}.partial-999999999`));
    expect(await cachedCopy(native, 'postgres-test-1.0', cache)).toEqual(binaries);
    expect(await readdir(cache)).toEqual([path.basename(copied)]);
  });
});
