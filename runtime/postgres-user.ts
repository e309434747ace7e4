import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The account PostgreSQL runs as when we are root (the server refuses to run as root). */
export interface PostgresUser {
  uid: number;
  gid: number;
}

const NAME = 'postgres';

/** The `postgres` account, made (as a system account, no home) when the machine has none yet. */
export async function postgresUser(): Promise<PostgresUser> {
  const existing = await lookUp();
  if (existing) return existing;
  try {
    await run('groupadd', ['--system', NAME]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', NAME, '--no-create-home', '--shell', '/usr/sbin/nologin', NAME]);
  } catch (error) {
    throw new Error(
      `running as root, the embedded PostgreSQL needs a "${NAME}" user and could not create it: ${String(error)}`,
    );
  }
  const created = await lookUp();
  if (!created) throw new Error(`created the "${NAME}" user but cannot find it`);
  return created;
}

async function lookUp(): Promise<PostgresUser | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', NAME]), run('id', ['-g', NAME])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

/**
 * Whether the user can open `path` (search permission on every folder on the way, and on `path` itself when it is a
 * folder; execute permission when it is a file). Asked of the kernel as that user, so ACLs and groups count too.
 */
export function canReach(user: PostgresUser, path: string): boolean {
  return spawnSync('test', ['-x', path], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}
