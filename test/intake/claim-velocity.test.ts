import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferralActivities } from '../../activities/referrals';
import type { DB } from '../../db/connection';
import { upsertCustomer } from '../../db/customers';
import { createProgram } from '../../db/programs';
import { issueReferralCode } from '../../db/referral-codes';
import type { IntakeDependencies } from '../../intake/deps';
import { claimReferral } from '../../intake/referral-claim';
import { DEFAULT_REFERRAL_TERMS, REVIEW_DEFAULTS, TASK_QUEUE, type ReferralInput } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * HIGH_VELOCITY counts the referrer's referrals: in the projection, which each claim's workflow writes a moment after
 * it starts, and those counted early, before their workflow was started. Claims of one referrer fired at once must
 * still be counted one after another, and the count must be committed (the referrer's lock let go) before Temporal is
 * called. Temporal is a fake whose start writes the claim's first projection a little later, as the workflow's first
 * task does, and keeps the flags each start carried and whether its count was already visible to others.
 */
let db: DB;
let drop: () => Promise<void>;
const programId = 'program-claim-velocity';
const started = new Map<string, string[]>();
const runs = new Map<string, Promise<unknown>>();
const countedBeforeStart = new Map<string, boolean>();

function temporalStartingClaims(): Client {
  const project = createReferralActivities({ db }).projectReferral;
  return {
    withDeadline: <T>(_deadline: number, call: () => Promise<T>) => call(),
    workflow: {
      // The live query of a claim whose first write is not in the projection yet: not started, as far as it knows.
      getHandle: (workflowId: string) => ({
        query: async () => {
          throw new WorkflowNotFoundError('not started', workflowId, undefined);
        },
      }),
      start: async (_type: string, options: { args: [ReferralInput] }) => {
        const [input] = options.args;
        // USE_EXISTING: a second start of the same id finds the first run, once that has written its claim
        const running = runs.get(input.referralId);
        if (running) return running;
        started.set(input.referralId, input.claim?.flags ?? []);
        // read on another pooled connection: only a committed count is seen
        const counted = await db
          .selectFrom('referrals_counted_early')
          .select('referral_id')
          .where('referral_id', '=', input.referralId)
          .executeTakeFirst();
        countedBeforeStart.set(input.referralId, counted !== undefined);
        const run = new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30)).then(() =>
          project({
            referral: {
              referralId: input.referralId,
              status: 'pending',
              programId: input.program.id,
              programVersion: input.program.version,
              currency: input.program.currency,
              code: input.code,
              referrerId: input.referrerId,
              refereeId: null,
              createdAt: input.createdAt,
              registeredAt: null,
              qualifiedAt: null,
              completedAt: null,
              endedAt: null,
              endReason: null,
              deadlines: { expiresAt: '2027-01-01T00:00:00.000Z', qualifyBy: null, holdUntil: null },
              terms: input.program.terms,
              progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 0 },
              flags: input.claim?.flags ?? [],
              review: null,
            },
            claim: input.claim,
            entry: { seq: 1, at: input.createdAt, kind: 'claimed', status: 'pending' },
          }),
        );
        runs.set(input.referralId, run);
        return run;
      },
    },
  } as unknown as Client;
}

const deps = (): IntakeDependencies => ({
  db,
  temporal: temporalStartingClaims(),
  clock: () => new Date(),
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  await createProgram(db, { id: programId, name: 'Velocity', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());

describe('HIGH_VELOCITY under concurrent claims', () => {
  const limit = REVIEW_DEFAULTS.velocityLimit;

  it(`given a referrer with no referrals, when ${limit + 2} claims of their code arrive at once, then exactly the ${limit + 1}th and ${limit + 2}th are HIGH_VELOCITY`, async () => {
    const referrerId = `anna-${randomUUID()}`;
    await upsertCustomer(db, { id: referrerId, email: `${referrerId}@example.com` });
    const { code } = await issueReferralCode(db, referrerId, programId);

    const claims = await Promise.all(
      Array.from({ length: limit + 2 }, (_, i) =>
        claimReferral(deps(), { code: code.code, invitee: { email: `invitee-${i}-${randomUUID()}@example.com` } }),
      ),
    );

    const flagged = claims.filter(({ referral }) => started.get(referral.id)?.includes('HIGH_VELOCITY'));
    expect(flagged).toHaveLength(2);
    // the flagged ones are the two created last: each claim counted every one before it
    const byCreation = claims.toSorted((a, b) => a.referral.createdAt.localeCompare(b.referral.createdAt));
    expect(new Set(flagged.map(({ referral }) => referral.id))).toEqual(
      new Set(byCreation.slice(limit).map(({ referral }) => referral.id)),
    );
    const rows = await db.selectFrom('referrals').select('id').where('referrer_id', '=', referrerId).execute();
    expect(rows).toHaveLength(limit + 2);
    expect(claims.map(({ referral }) => countedBeforeStart.get(referral.id))).toEqual(claims.map(() => true));
    // each counted once: by the projection from its first write on
    await Promise.all(runs.values());
    const early = await db
      .selectFrom('referrals_counted_early')
      .select('referral_id')
      .where('referrer_id', '=', referrerId)
      .execute();
    expect(early).toEqual([]);
  });
});
