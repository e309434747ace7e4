import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DB } from '../../db/connection';
import { issueReferralCode } from '../../db/referral-codes';
import { appOver, untouchableTemporal } from '../support/app';
import { createTestDatabase } from '../support/database';
import { KEYS } from '../support/http';
import { insertReferralRow } from '../support/projection-rows';

/**
 * A signup to a pending claim reads the claim's terms before it goes to the workflow. When that read fails, the answer
 * says whose fault it is: PostgreSQL out of reach is a 503 (retry, the relay delivers it), a statement PostgreSQL
 * refused is a 500 (ours); either way the signup stays accepted in the inbox, with the failure on it.
 */
const termsRead = vi.hoisted(() => ({ failWith: null as Error | null }));
vi.mock('../../db/programs', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../db/programs')>();
  return {
    ...real,
    findProgramTerms: async (...args: Parameters<typeof real.findProgramTerms>) => {
      if (termsRead.failWith) throw termsRead.failWith;
      return real.findProgramTerms(...args);
    },
  };
});

/** Errors shaped as pg reports them: a SQLSTATE, or a socket's errno. */
const statementRefused = () =>
  Object.assign(new Error('relation "program_versions_gone" does not exist'), { code: '42P01' });
const connectionRefused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
// as right after a restart, while every pool reconnects at once
const tooManyClients = () => Object.assign(new Error('sorry, too many clients already'), { code: '53300' });

let db: DB;
let drop: () => Promise<void>;
let programId: string;
let api: ReturnType<typeof appOver>['api'];
const workflowCalls: string[] = [];
// The workflow is never reached: the read before it fails.
const temporal = untouchableTemporal(() => workflowCalls.push('called'));

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db, { temporal }));
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Lookup', currency: 'INR' })).body.id;
});
afterAll(() => drop());

async function signupToAClaim() {
  const referrerId = `referrer-${randomUUID()}`;
  await db.insertInto('customers').values({ id: referrerId }).execute();
  const { code } = await issueReferralCode(db, referrerId, programId);
  const claim = await insertReferralRow(db, {
    program_id: programId,
    code: code.code,
    referrer_id: referrerId,
    status: 'pending',
    registered_at: null,
    expires_at: new Date(Date.now() + 86_400_000),
  });
  return { eventId: randomUUID(), customerId: `referee-${randomUUID()}`, referralId: claim.id };
}

const kept = (eventId: string) =>
  db
    .selectFrom('inbox_events')
    .select(['state', 'last_error'])
    .where('kind', '=', 'signup')
    .where('event_id', '=', eventId)
    .executeTakeFirstOrThrow();

describe("a signup whose claim's terms cannot be read", () => {
  it('given a statement PostgreSQL refused, then 500 (not a 503 that says to wait), and the signup stays accepted with the failure on it', async () => {
    const signup = await signupToAClaim();
    termsRead.failWith = statementRefused();
    try {
      const answer = await api.post('/v1/events/signups', KEYS.commerce, signup);
      expect(answer).toMatchObject({ status: 500, body: { code: 'internal_error' } });
    } finally {
      termsRead.failWith = null;
    }
    expect(await kept(signup.eventId)).toEqual({
      state: 'received',
      last_error: expect.stringContaining('program_versions_gone'),
    });
    expect(workflowCalls).toEqual([]);
  });

  it.each([
    ['PostgreSQL out of reach', connectionRefused, 'ECONNREFUSED'],
    ['PostgreSQL out of connections', tooManyClients, 'too many clients'],
  ])('given %s, then 503: the signup is kept and will be applied', async (_, failure, recorded) => {
    const signup = await signupToAClaim();
    termsRead.failWith = failure();
    try {
      const answer = await api.post('/v1/events/signups', KEYS.commerce, signup);
      expect(answer).toMatchObject({ status: 503, body: { code: 'temporarily_unavailable' } });
    } finally {
      termsRead.failWith = null;
    }
    expect(await kept(signup.eventId)).toEqual({
      state: 'received',
      last_error: expect.stringContaining(recorded),
    });
    expect(workflowCalls).toEqual([]);
  });
});
