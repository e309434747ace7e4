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
import { computeFraudFlags, recordCustomerContext } from '../../intake/fraud-flags';
import { claimReferral, type Claim } from '../../intake/referral-claim';
import { DEFAULT_REFERRAL_TERMS, REVIEW_DEFAULTS, TASK_QUEUE, type ReferralInput } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * A claim sent twice (a double submit, a retry with or without its Idempotency-Key, two identical requests at once)
 * is one invitee's one claim: its device and IP must not count as "seen elsewhere" against itself, at the claim or at
 * the signup that completes it. Temporal is a fake whose start writes the claim's first projection, as the workflow's
 * first task does, and keeps the flags each start carried.
 */
let db: DB;
let drop: () => Promise<void>;
const programId = 'program-duplicate-claims';
const started = new Map<string, string[]>();
const runs = new Map<string, Promise<unknown>>();

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
        const run = project({
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
        });
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
  await createProgram(db, { id: programId, name: 'Duplicates', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());

/** A referrer with a code, seen from an IP and a device of their own, and a claim of that code from another device. */
async function referrerAndClaim(): Promise<{ referrerId: string; claim: Claim }> {
  const referrerId = `anna-${randomUUID()}`;
  await upsertCustomer(db, { id: referrerId, email: `${referrerId}@example.com` });
  const { code } = await issueReferralCode(db, referrerId, programId);
  await recordCustomerContext(db, referrerId, { ip: '198.51.100.1', deviceId: `anna-phone-${referrerId}` }, new Date());
  const claim: Claim = {
    code: code.code,
    channel: 'whatsapp',
    invitee: { email: `ben-${randomUUID()}@example.com` },
    context: { ip: '203.0.113.9', deviceId: `ben-phone-${randomUUID()}` },
  };
  return { referrerId, claim };
}

const flagsOf = (referralId: string) => started.get(referralId);

describe('a claim sent twice', () => {
  it('given a claim answered once, when the same claim comes again without an Idempotency-Key, then neither carries DEVICE_REUSE or SAME_IP', async () => {
    const { claim } = await referrerAndClaim();
    const first = await claimReferral(deps(), claim);
    // the e-mail spelled as another form might send it: the same invitee
    const again = await claimReferral(deps(), {
      ...claim,
      invitee: { email: ` ${claim.invitee!.email!.toUpperCase()}` },
    });

    expect(again.referral.id).not.toBe(first.referral.id);
    expect(flagsOf(first.referral.id)).toEqual([]);
    expect(flagsOf(again.referral.id)).toEqual([]);
  });

  it('given two identical claims at once, with or without one Idempotency-Key, then none carries DEVICE_REUSE or SAME_IP', async () => {
    const { claim } = await referrerAndClaim();
    const unkeyed = await Promise.all([claimReferral(deps(), claim), claimReferral(deps(), claim)]);
    const key = `double-submit-${randomUUID()}`;
    const keyed = await Promise.all([claimReferral(deps(), claim, key), claimReferral(deps(), claim, key)]);
    const replay = await claimReferral(deps(), claim, key);

    expect(new Set(keyed.map((outcome) => outcome.referral.id))).toEqual(new Set([replay.referral.id]));
    expect(replay.replayed).toBe(true);
    for (const { referral } of [...unkeyed, ...keyed]) expect(flagsOf(referral.id)).toEqual([]);
  });

  it('given a claim sent twice, when its invitee signs up on the same device and IP to the second, then the signup raises neither flag', async () => {
    const { referrerId, claim } = await referrerAndClaim();
    await claimReferral(deps(), claim);
    const second = await claimReferral(deps(), claim);
    const signup = {
      referrerId,
      referralId: second.referral.id,
      referee: {
        customerId: `ben-${randomUUID()}`,
        email: claim.invitee!.email,
        ip: claim.context!.ip,
        deviceId: claim.context!.deviceId,
      },
      at: new Date(),
      review: { velocityLimit: REVIEW_DEFAULTS.velocityLimit, velocityWindow: REVIEW_DEFAULTS.velocityWindow },
    };

    expect(await computeFraudFlags(db, signup)).toEqual([]);
    // and a replay of that signup, once the customer's own context is kept, is judged the same
    await recordCustomerContext(db, signup.referee.customerId, claim.context, new Date());
    expect(await computeFraudFlags(db, signup)).toEqual([]);
  });

  it('given a claim for someone else on the same device and code, when it comes, then that is DEVICE_REUSE still', async () => {
    const { claim } = await referrerAndClaim();
    await claimReferral(deps(), claim);
    const other = await claimReferral(deps(), { ...claim, invitee: { email: `carl-${randomUUID()}@example.com` } });
    const noInvitee = await claimReferral(deps(), { ...claim, invitee: undefined });

    expect(flagsOf(other.referral.id)).toEqual(['DEVICE_REUSE']);
    expect(flagsOf(noInvitee.referral.id)).toEqual(['DEVICE_REUSE']);
  });
});
