/**
 * Run from a copy of the checkout (see test/runtime/embedded-postgres-as-root.test.ts): starts the embedded
 * PostgreSQL on the data folder and port given, counts this start in a table, and prints where the cluster and the
 * server binary were, as JSON, before it stops the server.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../db/embedded-postgres';
import { processCommandLine } from '../../runtime/process-table';

const [dataDir, port] = process.argv.slice(2);
const server = await startEmbeddedPostgres({ dataDir: dataDir!, port: Number(port) });
const client = new pg.Client({ connectionString: server.url() });
await client.connect();
await client.query('create table if not exists starts (at timestamptz not null default now())');
await client.query('insert into starts default values');
const { rows } = await client.query<{ count: string }>('select count(*) from starts');
await client.end();
const postmaster = Number((await readFile(path.join(server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
process.stdout.write(
  `${JSON.stringify({ dataDir: server.dataDir, executable: processCommandLine(postmaster)?.[0], starts: Number(rows[0]!.count) })}\n`,
);
await server.stop();
