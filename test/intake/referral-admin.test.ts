import type { Client } from '@temporalio/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { cancelReferral } from '../../intake/referral-admin';
import { TASK_QUEUE, type ReferralSnapshot } from '../../workflows/shared';
import { appOver } from '../support/app';
import { createTestDatabase } from '../support/database';
import { KEYS } from '../support/http';
import { refereeWithReferral } from '../support/projection-rows';

let db: DB;
let drop: () => Promise<void>;
let programId: string;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  const { api } = appOver(db);
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Cancels', currency: 'INR' })).body.id;
});
afterAll(() => drop());

/** A Temporal client whose cancel update answers with the referral in `status`. */
const answeringCancel = (status: ReferralSnapshot['status']): Client =>
  ({
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: { getHandle: () => ({ executeUpdate: async () => ({ status }) }) },
  }) as unknown as Client;

const deps = (temporal: Client) => ({
  db,
  temporal,
  clock: () => new Date(),
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});

describe('admin cancel', () => {
  it('given a cancel the workflow accepted while the referral completed, when it answers completed, then the cancel is refused as referral_closed', async () => {
    const { referralId } = await refereeWithReferral(db, programId, null);
    await expect(
      cancelReferral(deps(answeringCancel('completed')), { referralId, actor: 'ops' }),
    ).rejects.toMatchObject({ code: 'referral_closed' });
  });

  it('given a live referral, when the workflow answers cancelled, then the cancel returns the referral', async () => {
    const { referralId } = await refereeWithReferral(db, programId, null);
    const view = await cancelReferral(deps(answeringCancel('cancelled')), { referralId, actor: 'ops' });
    expect(view.id).toBe(referralId);
  });
});
