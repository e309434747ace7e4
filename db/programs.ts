import type { DB } from './connection';
import type { Program, ProgramVersion } from './schema';
import type { ProgramSnapshot, ReferralTerms } from '../workflows/shared';

export interface ProgramWithVersions extends Program {
  versions: ProgramVersion[];
}

export async function createProgram(
  db: DB,
  program: { id: string; name: string; currency: string; terms: ReferralTerms },
): Promise<ProgramWithVersions> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('programs')
      .values({ id: program.id, name: program.name, currency: program.currency, current_version: 1 })
      .execute();
    await trx
      .insertInto('program_versions')
      .values({ program_id: program.id, version: 1, terms: JSON.stringify(program.terms) })
      .execute();
    return (await findProgram(trx, program.id))!;
  });
}

/** Publishes new terms as the next version. Referrals already running keep the version they started under. */
export async function publishProgramVersion(
  db: DB,
  programId: string,
  terms: ReferralTerms,
): Promise<ProgramWithVersions | null> {
  return db.transaction().execute(async (trx) => {
    const program = await trx
      .selectFrom('programs')
      .selectAll()
      .where('id', '=', programId)
      .forUpdate()
      .executeTakeFirst();
    if (!program) return null;
    const version = program.current_version + 1;
    await trx
      .insertInto('program_versions')
      .values({ program_id: programId, version, terms: JSON.stringify(terms) })
      .execute();
    await trx
      .updateTable('programs')
      .set({ current_version: version, updated_at: new Date() })
      .where('id', '=', programId)
      .execute();
    return (await findProgram(trx, programId))!;
  });
}

export async function setProgramActive(
  db: DB,
  programId: string,
  active: boolean,
): Promise<ProgramWithVersions | null> {
  const updated = await db
    .updateTable('programs')
    .set({ active, updated_at: new Date() })
    .where('id', '=', programId)
    .executeTakeFirst();
  return updated.numUpdatedRows > 0n ? findProgram(db, programId) : null;
}

export async function findProgram(db: DB, programId: string): Promise<ProgramWithVersions | null> {
  const program = await db.selectFrom('programs').selectAll().where('id', '=', programId).executeTakeFirst();
  if (!program) return null;
  const versions = await db
    .selectFrom('program_versions')
    .selectAll()
    .where('program_id', '=', programId)
    .orderBy('version')
    .execute();
  return { ...program, versions };
}

/** The terms in force now: what a referral starting now runs under. */
export async function currentProgramSnapshot(
  db: DB,
  programId: string,
): Promise<(ProgramSnapshot & { active: boolean }) | null> {
  const row = await db
    .selectFrom('programs')
    .innerJoin('program_versions', (join) =>
      join
        .onRef('program_versions.program_id', '=', 'programs.id')
        .onRef('program_versions.version', '=', 'programs.current_version'),
    )
    .select([
      'programs.id',
      'programs.currency',
      'programs.active',
      'program_versions.version',
      'program_versions.terms',
    ])
    .where('programs.id', '=', programId)
    .executeTakeFirst();
  return row
    ? { id: row.id, version: row.version, currency: row.currency.trim(), terms: row.terms, active: row.active }
    : null;
}

/** The terms of one programme version: what a referral started under it runs by. */
export async function findProgramTerms(db: DB, programId: string, version: number): Promise<ReferralTerms | undefined> {
  const row = await db
    .selectFrom('program_versions')
    .select('terms')
    .where('program_id', '=', programId)
    .where('version', '=', version)
    .executeTakeFirst();
  return row?.terms;
}
