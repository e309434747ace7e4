import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DB } from '../../db/connection';
import { acceptEvent } from '../../db/inbox';
import { issueReferralCode } from '../../db/referral-codes';
import type { IntakeDependencies } from '../../intake/deps';
import { uuidFromKey } from '../../intake/ids';
import { handleSignup, signupFingerprint } from '../../intake/signup-registration';
import { REFUSALS, referralWorkflowId, TASK_QUEUE } from '../../workflows/shared';
import { appOver } from '../support/app';
import { createTestDatabase } from '../support/database';
import { KEYS } from '../support/http';
import { insertReferralRow } from '../support/projection-rows';

/**
 * A signup made before its claim's expiry and delivered after the claim lapsed starts a referral of its own under the
 * claim's code. The lapsed claim still held the referee (its registration was reserved in a workflow task that was
 * lost). Two deliveries of the same signup at once (the client's copies, a retry, the relay) both find that hold: one
 * releases it and registers the referee to the new referral; the other must not refuse the signup for good.
 */
const gate = vi.hoisted(() => ({
  refereeId: '',
  reads: 0,
  open: (): void => {},
  opened: null as Promise<void> | null,
}));
// Both deliveries read the referee, held by the claim, before either releases the hold.
vi.mock('../../db/customers', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../db/customers')>();
  return {
    ...real,
    findCustomer: async (db: DB, id: string) => {
      const row = await real.findCustomer(db, id);
      if (id === gate.refereeId && gate.opened) {
        gate.reads += 1;
        if (gate.reads === 2) gate.open();
        await gate.opened;
      }
      return row;
    },
  };
});

let db: DB;
let drop: () => Promise<void>;
let programId: string;
beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  const { api } = appOver(db);
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Lapsed', currency: 'INR' })).body.id;
});
afterAll(() => drop());

describe('a signup made in time for a claim that lapsed, delivered twice at once', () => {
  it('given the lapsed claim still holding the referee, when two deliveries of the signup race to its own referral, then both answer with that referral and the event is delivered, never kept as already_referred', async () => {
    const referrerId = `referrer-${randomUUID()}`;
    const refereeId = `referee-${randomUUID()}`;
    await db.insertInto('customers').values({ id: referrerId }).execute();
    const { code } = await issueReferralCode(db, referrerId, programId);
    const expiresAt = new Date(Date.now() - 60_000);
    const claim = await insertReferralRow(db, {
      program_id: programId,
      code: code.code,
      referrer_id: referrerId,
      status: 'expired',
      end_reason: 'referral_expired',
      registered_at: null,
      ended_at: new Date(),
      expires_at: expiresAt,
    });
    await db.insertInto('customers').values({ id: refereeId, referred_by_referral_id: claim.id }).execute();

    const signup = {
      eventId: randomUUID(),
      customerId: refereeId,
      referralId: claim.id,
      occurredAt: new Date(expiresAt.getTime() - 30_000).toISOString(),
    };
    const own = uuidFromKey('signup', signup.eventId);
    await acceptEvent(db, {
      kind: 'signup',
      eventId: signup.eventId,
      customerId: refereeId,
      payload: JSON.parse(JSON.stringify(signup)) as Record<string, unknown>,
      hash: signupFingerprint(signup),
      referralId: claim.id,
    });

    const temporal = {
      withDeadline: (_ms: number, call: () => Promise<unknown>) => call(),
      workflow: {
        getHandle: (workflowId: string) => ({
          describe: async () => ({}),
          // the claim's workflow has ended: it refuses the registration as closed
          executeUpdate: async () => {
            expect(workflowId).toBe(referralWorkflowId(claim.id));
            throw new WorkflowUpdateFailedError(
              'Workflow Update failed',
              ApplicationFailure.create({ type: REFUSALS.closed, message: 'has already ended', nonRetryable: true }),
            );
          },
        }),
        // the signup's own referral registers the referee (the claim's hold was released)
        executeUpdateWithStart: async () => {
          await db.updateTable('customers').set({ referred_by_referral_id: own }).where('id', '=', refereeId).execute();
          return {
            referralId: own,
            status: 'registered',
            programId,
            programVersion: 1,
            code: code.code,
            referrerId,
            refereeId,
            registeredAt: signup.occurredAt,
            deadlines: {},
          };
        },
      },
    } as unknown as Client;
    const deps: IntakeDependencies = {
      db,
      temporal,
      clock: () => new Date(),
      logger: pino({ level: 'silent' }),
      taskQueue: TASK_QUEUE,
    };

    gate.refereeId = refereeId;
    gate.opened = new Promise<void>((resolve) => (gate.open = resolve));
    const answers = await Promise.allSettled([handleSignup(deps, signup), handleSignup(deps, signup)]);

    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value.body : String(a.reason)))).toEqual([
      expect.objectContaining({ referred: true, referralId: own }),
      expect.objectContaining({ referred: true, referralId: own }),
    ]);
    const event = await db
      .selectFrom('inbox_events')
      .selectAll()
      .where('event_id', '=', signup.eventId)
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ state: 'delivered', referral_id: own });
    const referee = await db
      .selectFrom('customers')
      .select('referred_by_referral_id')
      .where('id', '=', refereeId)
      .executeTakeFirstOrThrow();
    expect(referee.referred_by_referral_id).toBe(own);
  });
});
