import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, realpath, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canReach, type PostgresUser } from './postgres-user';
import { leftoverPostmaster } from './postmaster';
import { rootOwnedFolder } from './root-folder';

/** State, so under /var/lib (kept across reboots, unlike /tmp), in a root-owned folder only root can write. */
export const RELOCATED_CLUSTERS = '/var/lib/referral-engine/postgres';

/** How the relocation decisions are told: info for what is done, warn for what the user should know about. */
export type ClusterLog = (line: string, level: 'info' | 'warn') => void;

/**
 * Where the PostgreSQL cluster asked for at `dataDir` really lives. Normally there. As root, the server runs as
 * `postgres`, which must reach the folder through every parent; a data folder under root's home (mode 700) is out of
 * its reach, and opening root's home to others is not ours to do. Then the cluster lives in
 * RELOCATED_CLUSTERS/<hash of dataDir's real path>/cluster, with a `data-dir` record naming the data folder it is for,
 * and `dataDir` becomes a link to it: the same data folder finds the same cluster on every start, and `ls -l` shows
 * where it is.
 *
 * A cluster is never deleted here. One the data folder no longer links to (the data folder was deleted or reset) is
 * set aside as `<hash>.orphaned-<time>`, with a warning naming it; a link to a cluster made for another data folder
 * (a moved or copied checkout) makes it this folder's only when that other folder no longer links to it.
 */
export async function clusterFolder(
  dataDir: string,
  runAs: PostgresUser | undefined,
  log: ClusterLog,
  /** RELOCATED_CLUSTERS but elsewhere, for tests */
  options: { clustersRoot?: string } = {},
): Promise<string> {
  const parent = path.dirname(dataDir);
  await mkdir(parent, { recursive: true });
  if (!runAs) return dataDir;

  const clustersRoot = options.clustersRoot ?? RELOCATED_CLUSTERS;
  // Keyed by the real path: the same folder reached through a link is the same folder.
  const realDataDir = path.join(await realpath(parent), path.basename(dataDir));
  const home = path.join(clustersRoot, createHash('sha256').update(realDataDir).digest('hex').slice(0, 16));
  const cluster = path.join(home, 'cluster');

  const linked = await linkTarget(dataDir);
  if (linked !== undefined) {
    const found = await followLink({ dataDir, realDataDir, linked, home, clustersRoot, runAs, log });
    if (found !== undefined) return found;
  }

  // The data folder's mode is its owner's choice: never opened here. Out of `postgres`'s reach, the cluster moves.
  if (canReach(runAs, parent)) return dataDir;

  await rootOwnedFolder(clustersRoot);
  if (await exists(home)) {
    const owner = await recordOf(home);
    await setAside(
      home,
      owner !== undefined && (await isSameFolder(owner, realDataDir))
        ? `${dataDir} no longer links to its PostgreSQL cluster (the data folder was deleted or reset)`
        : `a PostgreSQL cluster made for ${owner ?? 'an unknown data folder'} was where ${dataDir}'s goes`,
      log,
    );
  }
  await rmdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return;
    throw new Error(
      `${dataDir} is out of reach of the "postgres" user and not empty: move it away, or set DATA_DIR elsewhere`,
    );
  });
  await rootOwnedFolder(home);
  await writeFile(path.join(home, 'data-dir'), `${realDataDir}\n`);
  await symlink(cluster, dataDir);
  log(
    `the "postgres" user cannot reach ${parent}: the PostgreSQL cluster lives in ${cluster}, linked from ${dataDir}`,
    'info',
  );
  return cluster;
}

/** The cluster a link at `dataDir` leads to, or undefined when a new one is to be made (the link is then gone). */
async function followLink(at: {
  dataDir: string;
  realDataDir: string;
  linked: string;
  home: string;
  clustersRoot: string;
  runAs: PostgresUser;
  log: ClusterLog;
}): Promise<string | undefined> {
  const { dataDir, realDataDir, linked, home, log } = at;
  const linkedHome = path.dirname(linked);
  if (path.dirname(linkedHome) !== at.clustersRoot || path.basename(linked) !== 'cluster') {
    // A link of the user's own making: theirs to point wherever `postgres` can reach.
    if (canReach(at.runAs, dataDir)) return dataDir;
    throw new Error(
      `${dataDir} links to ${linked}, which the "postgres" user cannot reach: point it elsewhere, or remove the link`,
    );
  }
  if (!(await exists(linkedHome))) {
    log(`${dataDir} linked to ${linked}, which no longer exists: a new PostgreSQL cluster is made`, 'warn');
    await rm(dataDir);
    return undefined;
  }
  const owner = await recordOf(linkedHome);
  if (owner !== undefined && (await isSameFolder(owner, realDataDir))) return linked;

  if (owner !== undefined && (await isLinkTo(owner, linked))) {
    throw new Error(
      `${dataDir} links to the PostgreSQL cluster ${linked}, which belongs to ${owner} (that data folder links to it too), ` +
        `and two data folders cannot share one cluster: remove the link ${dataDir} to start this one afresh ` +
        `(${owner} keeps its database), or set DATA_DIR elsewhere`,
    );
  }
  // Made for a data folder that no longer links to it (a checkout moved or copied here): it becomes this folder's.
  if (linkedHome !== home && (await exists(home))) {
    await setAside(home, `a PostgreSQL cluster was where the one ${dataDir} links to now goes`, log);
  }
  if (linkedHome !== home) await rename(linkedHome, home);
  await writeFile(path.join(home, 'data-dir'), `${realDataDir}\n`);
  const cluster = path.join(home, 'cluster');
  const newLink = `${dataDir}.link-${process.pid}`;
  await symlink(cluster, newLink);
  await rename(newLink, dataDir);
  log(
    `${dataDir} links to the PostgreSQL cluster made for ${owner ?? 'an unknown data folder'}, which no longer links to it ` +
      `(moved or copied here?): it is now this data folder's, at ${cluster}`,
    'info',
  );
  return cluster;
}

/** Renames a cluster's folder out of the way; never deletes it. A server still running on it is a reason to stop. */
async function setAside(home: string, reason: string, log: ClusterLog): Promise<void> {
  const running = await leftoverPostmaster(path.join(home, 'cluster'));
  if (running) {
    throw new Error(
      `${reason}, and a PostgreSQL (pid ${running}) still runs on it at ${home}: stop it, then start again`,
    );
  }
  const aside = `${home}.orphaned-${new Date().toISOString().replaceAll(/[:.]/g, '-')}`;
  await rename(home, aside);
  log(`${reason}: its old cluster is kept at ${aside} (delete it when its data is not needed)`, 'warn');
}

async function recordOf(home: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(home, 'data-dir'), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Whether a recorded data folder is `realDataDir` (records written before they held real paths may not be). */
async function isSameFolder(recorded: string, realDataDir: string): Promise<boolean> {
  if (recorded === realDataDir) return true;
  try {
    return path.join(await realpath(path.dirname(recorded)), path.basename(recorded)) === realDataDir;
  } catch {
    return false;
  }
}

async function linkTarget(file: string): Promise<string | undefined> {
  try {
    return (await lstat(file)).isSymbolicLink() ? await readlink(file) : undefined;
  } catch {
    return undefined;
  }
}

async function isLinkTo(link: string, target: string): Promise<boolean> {
  return (await linkTarget(link)) === target;
}

const exists = (file: string) =>
  lstat(file).then(
    () => true,
    () => false,
  );

/** Deletes a stopped cluster wherever it lives, with the link to it: for throw-away clusters (tests, benchmarks). */
export async function removeCluster(dataDir: string, cluster: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await rm(cluster === dataDir ? cluster : path.dirname(cluster), { recursive: true, force: true });
}
