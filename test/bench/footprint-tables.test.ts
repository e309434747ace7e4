import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { appSchemaIndexes, appTableRows } from '../../scripts/bench/product';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: () => Promise<void>;

// A name that must be quoted: the footprint reads every table by the name the catalogue gives it.
const PROBE = 'bench "probe"';

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  await sql`create table ${sql.id('public', PROBE)} (id int primary key, note text, tag text)`.execute(db);
  await sql`create index probe_tag_idx on ${sql.id('public', PROBE)} (tag)`.execute(db);
});
afterAll(async () => drop());

describe('the footprint of a table (bench:footprint)', () => {
  it('given rows updated once without an index change and once with, then it reports their bytes, the dead rows and which update was HOT', async () => {
    await db.connection().execute(async (conn) => {
      await sql`insert into ${sql.id('public', PROBE)} values (1, 'a', 'x'), (2, ${'b'.repeat(500)}, 'y')`.execute(
        conn,
      );
      await sql`update ${sql.id('public', PROBE)} set note = 'c' where id = 1`.execute(conn);
      await sql`update ${sql.id('public', PROBE)} set tag = 'z' where id = 2`.execute(conn);
      // A backend sends its counts to the statistics only now and then; this one sends them now.
      await sql`select pg_stat_force_next_flush()`.execute(conn);
    });
    const footprint = await appTableRows(db, PROBE);

    // Two row headers (24 bytes each), the 500-byte note and the small values; not the 8 KB page they sit in.
    expect(footprint.rowBytes).toBeGreaterThan(2 * 24 + 500);
    expect(footprint.rowBytes).toBeLessThan(700);
    expect(footprint).toEqual({
      rowBytes: footprint.rowBytes,
      deadRowsNotVacuumed: 2,
      updatesTotal: 2,
      hotUpdatesTotal: 1,
    });
  });

  it('given a table nothing has written to, then it reports no bytes and no writes', async () => {
    await sql`create table ${sql.id('public', 'bench unseen')} (id int)`.execute(db);

    expect(await appTableRows(db, 'bench unseen')).toEqual({
      rowBytes: 0,
      deadRowsNotVacuumed: 0,
      updatesTotal: 0,
      hotUpdatesTotal: 0,
    });
  });

  it('given the migrated schema, then every index is listed with its table and whether it is partial', async () => {
    const indexes = await appSchemaIndexes(db);

    expect(indexes).toContainEqual(
      expect.objectContaining({ index: 'inbox_events_due_idx', table: 'inbox_events', partial: true }),
    );
    expect(indexes).toContainEqual(expect.objectContaining({ index: 'probe_tag_idx', table: PROBE, partial: false }));
    expect(indexes.every((i) => i.bytes > 0)).toBe(true);
  });
});
