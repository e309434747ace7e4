import { pathToFileURL } from 'node:url';
import { Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import { createDatabase } from './connection';
import { migrations } from './migrations';

/**
 * The one migration runner: used at start, in tests, in docker-compose and in deploys. Throws, naming the
 * migration that failed, so a broken deploy says which step broke.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(result.error)}`, {
      cause: result.error,
    });
  }
  return result;
}

// `npm run migrate` (DATABASE_URL required): migrates and prints each step.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required');
    process.exit(2);
  }
  const db = createDatabase(url, { max: 1 });
  try {
    const { results } = await migrateToLatest(db);
    for (const r of results ?? []) console.log(`${r.status === 'Success' ? 'applied' : r.status}: ${r.migrationName}`);
    if (!results?.length) console.log('schema is up to date');
  } catch (error) {
    console.error(String(error));
    process.exitCode = 1;
  } finally {
    await db.destroy();
  }
}
