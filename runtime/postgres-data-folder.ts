import { createHash } from 'node:crypto';
import { lstat, mkdir, readlink, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canReach, type PostgresUser } from './postgres-user';
import { leftoverPostmaster, stopPostmaster } from './postmaster';
import { rootOwnedFolder } from './root-folder';

/** State, so under /var/lib (kept across reboots, unlike /tmp), in a root-owned folder only root can write. */
export const RELOCATED_CLUSTERS = '/var/lib/referral-engine/postgres';

/**
 * Where the PostgreSQL cluster asked for at `dataDir` really lives. Normally there. As root, the server runs as
 * `postgres`, which must reach the folder through every parent; a data folder under root's home (mode 700) is out of
 * its reach, and opening root's home to others is not ours to do. Then the cluster lives in
 * RELOCATED_CLUSTERS/<hash of dataDir's absolute path>/cluster, and `dataDir` becomes a link to it: the same data
 * folder finds the same cluster on every start, `ls -l` shows where it is, and deleting the data folder (the link)
 * resets the database along with everything else kept there.
 */
export async function clusterFolder(
  dataDir: string,
  runAs: PostgresUser | undefined,
  log: (line: string) => void,
  /** RELOCATED_CLUSTERS but elsewhere, for tests */
  options: { clustersRoot?: string } = {},
): Promise<string> {
  const parent = path.dirname(dataDir);
  await mkdir(parent, { recursive: true });
  if (!runAs) return dataDir;

  const clustersRoot = options.clustersRoot ?? RELOCATED_CLUSTERS;
  const relocated = path.join(clustersRoot, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
  const cluster = path.join(relocated, 'cluster');
  if (await isLinkTo(dataDir, cluster)) return cluster;

  // The data folder's mode is its owner's choice: never opened here. Out of `postgres`'s reach, the cluster moves.
  if (canReach(runAs, parent)) return dataDir;

  if (await exists(relocated)) {
    // The data folder was deleted or reset since this cluster was made for it: so is its database.
    const running = await leftoverPostmaster(cluster);
    if (running) await stopPostmaster(running);
    log(`removing ${relocated}: the PostgreSQL cluster of an earlier ${dataDir}, which no longer links to it`);
    await rm(relocated, { recursive: true, force: true });
  }
  await rmdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return;
    throw new Error(`${dataDir} is out of reach of the "postgres" user and not empty: move it away, or set DATA_DIR elsewhere`);
  });
  await rootOwnedFolder(clustersRoot);
  await rootOwnedFolder(relocated);
  await writeFile(path.join(relocated, 'data-dir'), `${dataDir}\n`);
  await symlink(cluster, dataDir);
  log(`the "postgres" user cannot reach ${parent}: the cluster lives in ${cluster}, linked from ${dataDir}`);
  return cluster;
}

async function isLinkTo(link: string, target: string): Promise<boolean> {
  try {
    return (await lstat(link)).isSymbolicLink() && (await readlink(link)) === target;
  } catch {
    return false;
  }
}

const exists = (file: string) => lstat(file).then(() => true, () => false);

/** Deletes a stopped cluster wherever it lives, with the link to it: for throw-away clusters (tests, benchmarks). */
export async function removeCluster(dataDir: string, cluster: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await rm(cluster === dataDir ? cluster : path.dirname(cluster), { recursive: true, force: true });
}
