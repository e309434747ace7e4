import { randomInt } from 'node:crypto';
import type { DB } from './connection';
import type { ReferralCode } from './schema';

// No 0/O or 1/I: codes are read aloud and typed from screenshots.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 8;

const generateCode = (): string =>
  Array.from({ length: CODE_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/**
 * The customer's code for a programme, issued on first request. Concurrent requests end with one code: the
 * (customer, programme) unique constraint decides, and the loser reads the winner's row.
 */
export async function issueReferralCode(
  db: DB,
  customerId: string,
  programId: string,
): Promise<{ code: ReferralCode; created: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await findCodeOfCustomer(db, customerId, programId);
    if (existing) return { code: existing, created: false };
    const inserted = await db
      .insertInto('referral_codes')
      .values({ code: generateCode(), customer_id: customerId, program_id: programId })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { code: inserted, created: true };
  }
  throw new Error('could not issue a unique referral code');
}

export const findCodeOfCustomer = (db: DB, customerId: string, programId: string): Promise<ReferralCode | undefined> =>
  db
    .selectFrom('referral_codes')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('program_id', '=', programId)
    .executeTakeFirst();

export const findReferralCode = (db: DB, code: string): Promise<ReferralCode | undefined> =>
  db.selectFrom('referral_codes').selectAll().where('code', '=', code).executeTakeFirst();
