import { chmod, lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * A folder of root's that root later runs things from as another user (the PostgreSQL binaries cache, the relocated
 * clusters): made if missing with `mode` whatever the umask (mkdir's mode is masked by it), and checked, with its
 * parent, to be root-owned and writable by root alone, so nobody else can swap what is inside.
 */
export async function rootOwnedFolder(folder: string, mode = 0o755): Promise<void> {
  const first = await mkdir(folder, { recursive: true, mode });
  if (first !== undefined) {
    // Only the folders made here: from the first one made down to `folder`.
    for (let made = folder; ; made = path.dirname(made)) {
      await chmod(made, mode);
      if (made === first || made === path.dirname(made)) break;
    }
  }
  await requireRootOwnedFolder(path.dirname(folder));
  await requireRootOwnedFolder(folder);
}

export async function requireRootOwnedFolder(folder: string): Promise<void> {
  const info = await lstat(folder);
  if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
    throw new Error(`${folder} must be a folder owned by root and writable only by root; remove it and start again`);
  }
}
