import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../db/embedded-postgres';
import { migrateToLatest } from '../../db/migrate';
import { freePort } from '../../runtime/free-port';

export const TEMPLATE_DATABASE = 'referrals_template';

declare module 'vitest' {
  export interface ProvidedContext {
    /** a connection string to a database with rights to create databases; each test file makes its own */
    adminDatabaseUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run (embedded-postgres, or DATABASE_URL's server), with a template database migrated
 * once by the real runner; each test file clones it, so files run in parallel on the schema that ships.
 */
export default async function setup(project: TestProject) {
  let adminUrl = process.env.DATABASE_URL;
  let stop = async () => {};
  if (!adminUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'referrals-test-pg-'));
    const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), port: await freePort() });
    adminUrl = server.url('postgres');
    stop = async () => {
      await server.remove();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE_DATABASE}`);
  await admin.query(`create database ${TEMPLATE_DATABASE}`);
  await admin.end();

  const templateUrl = new URL(adminUrl);
  templateUrl.pathname = `/${TEMPLATE_DATABASE}`;
  const db = new Kysely<any>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: templateUrl.href, max: 1 }) }),
  });
  await migrateToLatest(db);
  await db.destroy();

  project.provide('adminDatabaseUrl', adminUrl);
  return stop;
}
