import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { permanentDatabaseFailure } from '../../activities/database-faults';
import type { ProjectReferralInput } from '../../activities/referrals';
import type { DB } from '../../db/connection';
import { createProgram } from '../../db/programs';
import { DEFAULT_REFERRAL_TERMS } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: () => Promise<void>;
let activities: ReturnType<typeof createActivities>;
const mockEnv = new MockActivityEnvironment();
const env = {
  run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => mockEnv.run(fn, ...args) as Promise<R>,
};
const programId = 'program-faults';

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  activities = createActivities({ db });
  await createProgram(db, { id: programId, name: 'Test', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());

function projection(
  referralId: string,
  overrides: Partial<ProjectReferralInput['referral']> = {},
): ProjectReferralInput {
  const at = '2026-11-01T00:00:00.000Z';
  return {
    referral: {
      referralId,
      status: 'registered',
      programId,
      programVersion: 1,
      currency: 'INR',
      code: 'ANNA2026',
      referrerId: 'anna',
      refereeId: null,
      createdAt: at,
      registeredAt: at,
      qualifiedAt: null,
      completedAt: null,
      endedAt: null,
      endReason: null,
      deadlines: { expiresAt: null, qualifyBy: '2026-12-01T00:00:00.000Z', holdUntil: null },
      terms: DEFAULT_REFERRAL_TERMS,
      progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 50_000 },
      ...overrides,
    },
    entry: { seq: 1, at, kind: 'registered', status: 'registered' },
  };
}

describe('activity failures no retry can fix', () => {
  it('given a value the database cannot hold (a data error, class 22), when projectReferral runs, then it fails non-retryably with a named type', async () => {
    const failure = await env
      .run(activities.projectReferral, projection(randomUUID(), { createdAt: 'not an instant' }))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'database_data_error', nonRetryable: true });
    expect((failure as ApplicationFailure).details?.[0]).toMatchObject({ sqlState: '22007' });
  });

  it('given a referee another referral already projects (an integrity violation, class 23), when projectReferral runs, then it fails non-retryably', async () => {
    await env.run(activities.projectReferral, projection(randomUUID(), { refereeId: 'ben' }));
    const failure = await env
      .run(activities.projectReferral, projection(randomUUID(), { refereeId: 'ben' }))
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ type: 'database_integrity_violation', nonRetryable: true });
    expect((failure as ApplicationFailure).details?.[0]).toMatchObject({
      sqlState: '23505',
      constraint: 'referrals_referee_id_key',
    });
  });

  it('given errors retrying can fix (a serialization failure, a deadlock, a lost connection), then they are left to the retry policy', () => {
    expect(
      permanentDatabaseFailure(Object.assign(new Error('could not serialize access'), { code: '40001' })),
    ).toBeUndefined();
    expect(permanentDatabaseFailure(Object.assign(new Error('deadlock detected'), { code: '40P01' }))).toBeUndefined();
    expect(
      permanentDatabaseFailure(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined();
    // a deploy or a role out of step with the code: fixed by an operator, then the activity resumes
    expect(
      permanentDatabaseFailure(Object.assign(new Error('column "x" does not exist'), { code: '42703' })),
    ).toBeUndefined();
    expect(
      permanentDatabaseFailure(Object.assign(new Error('permission denied for table referrals'), { code: '42501' })),
    ).toBeUndefined();
  });

  it('given an index row too large for its page (decided by the data), then it fails non-retryably', () => {
    expect(
      permanentDatabaseFailure(Object.assign(new Error('index row size 3000 exceeds maximum'), { code: '54000' })),
    ).toMatchObject({
      type: 'database_data_error',
      nonRetryable: true,
    });
  });
});

describe('releaseReferee', () => {
  it('given a referee reserved by this referral, when released, then they are free again, and a second release or another referral’s changes nothing', async () => {
    const referralId = randomUUID();
    const signup = { eventId: randomUUID(), refereeId: 'carl', occurredAt: new Date().toISOString() };
    expect(await env.run(activities.registerReferee, { referralId, referrerId: 'anna', signup })).toEqual({
      outcome: 'registered',
    });

    expect(await env.run(activities.releaseReferee, { referralId: randomUUID(), refereeId: 'carl' })).toEqual({
      released: false,
    });
    expect(await env.run(activities.releaseReferee, { referralId, refereeId: 'carl' })).toEqual({ released: true });
    expect(await env.run(activities.releaseReferee, { referralId, refereeId: 'carl' })).toEqual({ released: false });
    const carl = await db
      .selectFrom('customers')
      .select('referred_by_referral_id')
      .where('id', '=', 'carl')
      .executeTakeFirstOrThrow();
    expect(carl.referred_by_referral_id).toBeNull();
  });
});

describe('recordReferralFault', () => {
  it('given a fault, when it is recorded twice (a retry), then one row is kept', async () => {
    const referralId = randomUUID();
    const fault = {
      faultId: `${referralId}:seq-2`,
      referralId,
      activity: 'projectReferral',
      failureType: 'database_data_error',
      message: 'bad',
      status: 'registered',
    };
    await env.run(activities.recordReferralFault, fault);
    await env.run(activities.recordReferralFault, fault);
    const rows = await db.selectFrom('referral_faults').selectAll().where('referral_id', '=', referralId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      activity: 'projectReferral',
      failure_type: 'database_data_error',
      status: 'registered',
    });
  });
});
