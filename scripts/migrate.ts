/**
 * `npm run migrate`: brings DATABASE_URL's schema to the latest migration and prints each step; exits 1 naming the
 * migration that failed. The one runner tests, `npm start`, docker-compose and deploys use.
 */
import { createDatabase } from '../db/connection';
import { migrateToLatest } from '../db/migrate';
import { loadConfig, requireSetting } from '../runtime/config';

const db = createDatabase(requireSetting(loadConfig().databaseUrl, 'DATABASE_URL'), { max: 1 });
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
