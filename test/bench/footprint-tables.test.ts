import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { appSchemaIndexes, appTableRows } from '../../scripts/bench/product';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: (() => Promise<void>) | undefined;

// A name that must be quoted: the footprint reads every table by the name the catalogue gives it.
const PROBE = 'bench "probe"';

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  await sql`create table ${sql.id('public', PROBE)} (id int primary key, note text, tag text)`.execute(db);
  await sql`create index probe_tag_idx on ${sql.id('public', PROBE)} (tag)`.execute(db);
});
afterAll(async () => drop?.());

describe('the footprint of a table (bench:footprint)', () => {
  it('given rows updated once without an index change and once with, and one deleted, then it reports the bytes of the rows alive, the dead rows and which update was HOT', async () => {
    await db.connection().execute(async (conn) => {
      await sql`insert into ${sql.id('public', PROBE)} values (1, 'a', 'x'), (2, ${'b'.repeat(500)}, 'y'), (3, 'd', 'w')`.execute(
        conn,
      );
      await sql`update ${sql.id('public', PROBE)} set note = 'c' where id = 1`.execute(conn);
      await sql`update ${sql.id('public', PROBE)} set tag = 'z' where id = 2`.execute(conn);
      await sql`delete from ${sql.id('public', PROBE)} where id = 3`.execute(conn);
      // A backend sends its counts to the statistics only now and then; this one sends them now.
      await sql`select pg_stat_force_next_flush()`.execute(conn);
    });
    const footprint = await appTableRows(db, PROBE);

    // The two live rows' headers (24 bytes each), the 500-byte note and the small values; not the 8 KB page they sit
    // in. Dead: the two rows updated and the one deleted (autovacuum waits for fifty dead rows).
    expect(footprint.rowBytes).toBeGreaterThan(2 * 24 + 500);
    expect(footprint.rowBytes).toBeLessThan(700);
    expect(footprint).toEqual({
      rowBytes: footprint.rowBytes,
      deadRowsNotVacuumed: 3,
      updatesTotal: 2,
      hotUpdatesTotal: 1,
    });
  });

  it('given the migrated schema, then every index is listed with its table and whether it is partial', async () => {
    const indexes = await appSchemaIndexes(db);

    expect(indexes).toContainEqual(
      expect.objectContaining({ index: 'inbox_events_due_idx', table: 'inbox_events', partial: true }),
    );
    expect(indexes).toContainEqual(expect.objectContaining({ index: 'probe_tag_idx', table: PROBE, partial: false }));
    // largest first, and the application's alone (none of the catalogue's)
    expect(indexes.map((i) => i.bytes)).toEqual(indexes.map((i) => i.bytes).sort((a, b) => b - a));
    expect(indexes.filter((i) => i.index.startsWith('pg_'))).toEqual([]);
  });
});
