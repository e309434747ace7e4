import { Migrator, type Kysely, type MigrationResultSet } from 'kysely';
import { migrations } from './migrations';

const migratorFor = (db: Kysely<any>) => new Migrator({ db, provider: { getMigrations: async () => migrations } });

/**
 * The one migration runner: used at start, in tests, in docker-compose and in deploys. Throws, naming the
 * migration that failed, so a broken deploy says which step broke.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  const migrator = migratorFor(db);
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(
      `migration ${failed?.migrationName ?? '(unknown)'} failed: ${result.error instanceof Error ? result.error.message : JSON.stringify(result.error)}`,
      {
        cause: result.error,
      },
    );
  }
  return result;
}

/** For the processes that use the schema but do not own it: refuses to run on a database that lags the code. */
export async function requireMigrated(db: Kysely<any>): Promise<void> {
  const pending = (await migratorFor(db).getMigrations()).filter((m) => !m.executedAt).map((m) => m.name);
  if (pending.length > 0) {
    throw new Error(`the database lacks migrations ${pending.join(', ')}: run \`npm run migrate\` first`);
  }
}
