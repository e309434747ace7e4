import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../../db/embedded-postgres';
import { freePort } from '../../runtime/free-port';

/** The embedded PostgreSQL gets only what it needs from us, and leaves nothing outside its cluster. */
let dir: string;
let server: EmbeddedPostgresServer | undefined;
const SECRET = 'shop:commerce:do-not-hand-this-to-postgres';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'referrals-embedded-'));
});
afterAll(async () => {
  await server?.remove();
  await rm(dir, { recursive: true, force: true });
});

describe('embedded PostgreSQL', () => {
  it('given secrets in our environment, when the server runs, then it has none of them, and it makes no socket in /tmp', async () => {
    const port = await freePort();
    const before = process.env.API_KEYS;
    process.env.API_KEYS = SECRET;
    try {
      server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), port });
    } finally {
      if (before === undefined) delete process.env.API_KEYS;
      else process.env.API_KEYS = before;
    }
    const postmaster = Number((await readFile(path.join(server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const environment = readFileSync(`/proc/${postmaster}/environ`, 'utf8').split('\0').filter(Boolean);
    expect(environment.join('\n')).not.toContain(SECRET);
    // what it needs, nothing of ours (PostgreSQL may add its own PG* variables)
    const names = environment.map((entry) => entry.split('=')[0]!).filter((name) => !name.startsWith('PG'));
    expect(names.sort()).toEqual(['LANG', 'LC_ALL', 'PATH']);
    expect(existsSync(`/tmp/.s.PGSQL.${port}`)).toBe(false);
    await server.createDatabase('reachable');
  }, 90_000);
});
