import { MockActivityEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { ProjectReferralInput } from '../../activities/referrals';
import type { DB } from '../../db/connection';
import { upsertCustomer } from '../../db/customers';
import { acceptEvent } from '../../db/inbox';
import { createProgram } from '../../db/programs';
import { findVoucherOfReferral, redeemVoucher } from '../../db/vouchers';
import { recordTermsMoveItem, reserveTermsMove, termsMoveRequestId } from '../../db/term-moves';
import { COUNTED_PROGRESS, DEFAULT_REFERRAL_TERMS } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: () => Promise<void>;
let activities: ReturnType<typeof createActivities>;
const mockEnv = new MockActivityEnvironment();
// MockActivityEnvironment.run loses the activity's result type; this keeps it.
const env = {
  run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => mockEnv.run(fn, ...args) as Promise<R>,
};
const programId = 'program-activities';

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  activities = createActivities({ db });
  await createProgram(db, { id: programId, name: 'Test', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());
beforeEach(async () => {
  await db.deleteFrom('vouchers').execute();
  await db.deleteFrom('term_moves').execute();
  await db.deleteFrom('referral_timeline').execute();
  await db.deleteFrom('referrals').execute();
  await db.deleteFrom('inbox_events').execute();
  await db.deleteFrom('customers').execute();
});

function projection(
  referralId: string,
  seq: number,
  status: ProjectReferralInput['referral']['status'],
): ProjectReferralInput {
  const at = new Date(Date.UTC(2026, 10, 1, 0, 0, seq)).toISOString();
  return {
    referral: {
      referralId,
      status,
      programId,
      programVersion: 1,
      currency: 'INR',
      code: 'ANNA2026',
      referrerId: 'anna',
      refereeId: seq > 1 ? 'ben' : null,
      createdAt: '2026-11-01T00:00:00.000Z',
      registeredAt: seq > 1 ? at : null,
      qualifiedAt: null,
      completedAt: null,
      endedAt: null,
      endReason: null,
      deadlines: { expiresAt: '2027-01-30T00:00:00.000Z', qualifyBy: null, holdUntil: null },
      terms: DEFAULT_REFERRAL_TERMS,
      progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 50_000 },
    },
    claim: { channel: 'email', invitee: { email: ' Ben@Example.com ' } },
    entry: { seq, at, kind: status, status },
  };
}

const signup = (refereeId: string, extra: { email?: string; phone?: string } = {}) => ({
  eventId: randomUUID(),
  refereeId,
  occurredAt: new Date().toISOString(),
  ...extra,
});

describe('projectRegistration', () => {
  const registration = (write: ProjectReferralInput) => ({
    ...write,
    voucher: {
      customerId: 'ben',
      amount: 5_000,
      currency: 'INR',
      issuedAt: '2026-11-01T00:00:02.000Z',
      expiresAt: '2026-12-01T00:00:02.000Z',
    },
  });

  it('given a signup registered, when its write runs twice (a retry), then one voucher is issued and the registered and voucher_issued entries are written once each', async () => {
    const id = randomUUID();
    await upsertCustomer(db, { id: 'ben' });
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const write = registration(projection(id, 2, 'registered'));
    const given = await env.run(activities.projectRegistration, write);
    expect(await env.run(activities.projectRegistration, write)).toEqual(given);
    expect(given).toEqual({ code: expect.any(String), expiresAt: '2026-12-01T00:00:02.000Z' });
    expect(await db.selectFrom('vouchers').selectAll().where('referral_id', '=', id).execute()).toEqual([
      expect.objectContaining({ code: given.code, customer_id: 'ben', status: 'active' }),
    ]);
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'registered', projection_seq: 3 });
    const timeline = await db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', id).execute();
    expect(timeline.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'pending'],
      [2, 'registered'],
      [3, 'voucher_issued'],
    ]);
    expect(timeline[2]!.detail).toEqual({
      code: given.code,
      amount: 5_000,
      currency: 'INR',
      expiresAt: given.expiresAt,
    });
  });

  it('given a registration the projection refuses, when its write fails, then no voucher is left behind', async () => {
    const id = randomUUID();
    await upsertCustomer(db, { id: 'ben' });
    const registered = projection(id, 2, 'registered');
    // a status the column's check refuses
    const write = registration({
      ...registered,
      referral: { ...registered.referral, status: 'nonsense' as 'registered' },
    });
    await expect(env.run(activities.projectRegistration, write)).rejects.toThrow(/referrals_status_check|status/);
    expect(await db.selectFrom('vouchers').selectAll().where('referral_id', '=', id).execute()).toEqual([]);
  });
});

describe('projectReferralEnd', () => {
  /** A registered referral whose referee holds its voucher; returns the voucher's code. */
  async function registeredWithVoucher(id: string): Promise<string> {
    await upsertCustomer(db, { id: 'ben' });
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    await env.run(activities.projectReferral, projection(id, 2, 'registered'));
    const { code } = await env.run(activities.issueRefereeVoucher, {
      referralId: id,
      customerId: 'ben',
      amount: 10_000,
      currency: 'INR',
      issuedAt: '2026-11-01T00:00:02.000Z',
      expiresAt: '2026-12-01T00:00:02.000Z',
    });
    return code;
  }
  const end = (id: string, code: string) => ({
    ...projection(id, 3, 'expired'),
    voidVoucher: { code, reason: 'qualification_window_closed' },
  });

  it('given a registered referral with an active voucher, when its end is written twice, then the voucher is void and the end shown with it, once', async () => {
    const id = randomUUID();
    const code = await registeredWithVoucher(id);
    const written = await env.run(activities.projectReferralEnd, end(id, code));
    expect(await env.run(activities.projectReferralEnd, end(id, code))).toEqual(written);
    expect(written).toEqual({ voucher: { code, status: 'void' } });
    const at = end(id, code).entry.at;
    expect(await findVoucherOfReferral(db, id)).toMatchObject({
      status: 'void',
      void_reason: 'qualification_window_closed',
      voided_at: new Date(at),
    });
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    // an end that does not ask to close (a run from before the close joined it) leaves that to markReferralClosed
    expect(row).toMatchObject({ status: 'expired', projection_seq: 3, closed_at: null });
    const timeline = await db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', id).execute();
    expect(timeline.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(timeline[2]!.detail).toEqual({ voucher: { code, status: 'void' } });
  });

  it('given a voucher the referee already used, when the end is written, then it stays redeemed and the entry says so', async () => {
    const id = randomUUID();
    const code = await registeredWithVoucher(id);
    await redeemVoucher(db, {
      code,
      redemptionKey: 'checkout-1',
      orderId: 'o-1',
      now: new Date('2026-11-02T00:00:00Z'),
    });
    expect(await env.run(activities.projectReferralEnd, end(id, code))).toEqual({
      voucher: { code, status: 'redeemed' },
    });
    expect((await findVoucherOfReferral(db, id))?.status).toBe('redeemed');
  });

  it('given an end that asks to close the referral, when it is written and retried, then the row is closed once, at the first instant, and stays closed under later entries', async () => {
    const id = randomUUID();
    const code = await registeredWithVoucher(id);
    const closing = { ...end(id, code), closedAt: end(id, code).entry.at };
    expect(await env.run(activities.projectReferralEnd, closing)).toEqual({
      voucher: { code, status: 'void' },
      closed: true,
    });
    // an attempt that outlived its timeout, retried later: the close keeps its first instant
    expect(
      await env.run(activities.projectReferralEnd, { ...closing, closedAt: '2026-11-01T00:05:00.000Z' }),
    ).toMatchObject({ closed: true });
    const late = projection(id, 4, 'expired');
    late.entry = { ...late.entry, at: '2026-11-01T00:10:00.000Z', kind: 'late_fact' };
    expect(await env.run(activities.projectReferral, late)).toEqual({ written: true });
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'expired', projection_seq: 4, closed_at: new Date(closing.closedAt) });
  });

  it('given a failed end without a voucher that asks to close, when it is written, then the row is closed with it', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const expired = projection(id, 2, 'expired');
    expect(await env.run(activities.projectReferral, { ...expired, closedAt: expired.entry.at })).toEqual({
      written: true,
      closed: true,
    });
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.closed_at).toEqual(new Date(expired.entry.at));
  });

  it('given an end judged stale (a later task wrote since), when it asks to close, then nothing is closed and it does not say closed', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const shownLater = projection(id, 2, 'pending');
    shownLater.entry = { ...shownLater.entry, at: '2026-11-01T01:00:00.000Z' };
    await env.run(activities.projectReferral, shownLater);
    const staleEnd = projection(id, 2, 'expired');
    expect(await env.run(activities.projectReferral, { ...staleEnd, closedAt: staleEnd.entry.at })).toEqual({
      written: false,
    });
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'pending', closed_at: null });
  });

  it('given a pending referral (no voucher), when it expires, then the end is shown and no voucher is named', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    expect(await env.run(activities.projectReferralEnd, projection(id, 2, 'expired'))).toEqual({ voucher: null });
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.status).toBe('expired');
  });
});

describe('projectReferral', () => {
  it('given a transition, when the activity is retried, then one row and one timeline entry exist', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const rows = await db.selectFrom('referrals').selectAll().where('id', '=', id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'pending',
      channel: 'email',
      invitee_email: 'ben@example.com',
      projection_seq: 1,
    });
    expect(await db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', id).execute()).toHaveLength(
      1,
    );
  });

  it('given a move kept as failed for the referral, when the projection writes its terms_moved entry, then the move’s item says moved; another move’s item is left alone', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const [late, other] = [randomUUID(), randomUUID()];
    for (const moveId of [late, other]) {
      await reserveTermsMove(db, {
        moveId,
        programId,
        toVersion: 1,
        selection: {},
        actor: 'ops',
        reason: null,
        bodyHash: moveId,
      });
      await recordTermsMoveItem(db, {
        move_id: moveId,
        referral_id: id,
        outcome: 'failed',
        from_version: 1,
        code: 'unreachable',
        reason: 'the step ran out of time',
        changes: null,
        at: new Date(),
      });
    }
    const moved = projection(id, 2, 'pending');
    moved.entry = {
      ...moved.entry,
      kind: 'terms_moved',
      detail: { requestId: termsMoveRequestId(late), fromVersion: 1, toVersion: 2, deadlines: [], terms: ['minSpend'] },
    };
    await env.run(activities.projectReferral, moved);
    const items = await db
      .selectFrom('term_move_items')
      .select(['move_id', 'outcome', 'code', 'reason', 'changes'])
      .where('referral_id', '=', id)
      .execute();
    expect(items.find((item) => item.move_id === late)).toEqual({
      move_id: late,
      outcome: 'moved',
      code: null,
      reason: null,
      changes: { deadlines: [], terms: ['minSpend'] },
    });
    expect(items.find((item) => item.move_id === other)).toMatchObject({ outcome: 'failed', code: 'unreachable' });
  });

  it('given a newer transition is projected, when an older one is retried late, then the newer state stays', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    await env.run(activities.projectReferral, projection(id, 2, 'registered'));
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    const row = await db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'registered', referee_id: 'ben', projection_seq: 2 });
    const timeline = await db
      .selectFrom('referral_timeline')
      .select(['seq', 'kind'])
      .where('referral_id', '=', id)
      .orderBy('seq')
      .execute();
    expect(timeline).toEqual([
      { seq: 1, kind: 'pending' },
      { seq: 2, kind: 'registered' },
    ]);
  });

  it('given a seq written once, when the same seq is written again with another outcome (a re-run local activity), then the second stands', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    await env.run(activities.projectReferral, projection(id, 2, 'expired'));
    await env.run(activities.projectReferral, projection(id, 2, 'registered'));
    const row = await db
      .selectFrom('referrals')
      .select(['status', 'projection_seq'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'registered', projection_seq: 2 });
    const timeline = await db
      .selectFrom('referral_timeline')
      .select(['seq', 'kind'])
      .where('referral_id', '=', id)
      .orderBy('seq')
      .execute();
    expect(timeline).toEqual([
      { seq: 1, kind: 'pending' },
      { seq: 2, kind: 'registered' },
    ]);
  });
  it('given a later transition is projected, when a stale write of an earlier seq lands with other content, then neither the row nor that seq’s entry changes', async () => {
    const id = randomUUID();
    await env.run(activities.projectReferral, projection(id, 1, 'pending'));
    await env.run(activities.projectReferral, projection(id, 2, 'registered'));
    await env.run(activities.projectReferral, projection(id, 3, 'expired'));
    // an attempt of seq 2 that outlived its timeout, carrying what that attempt had decided
    await env.run(activities.projectReferral, projection(id, 2, 'cancelled'));
    const row = await db
      .selectFrom('referrals')
      .select(['status', 'projection_seq'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'expired', projection_seq: 3 });
    const timeline = await db
      .selectFrom('referral_timeline')
      .select(['seq', 'kind'])
      .where('referral_id', '=', id)
      .orderBy('seq')
      .execute();
    expect(timeline).toEqual([
      { seq: 1, kind: 'pending' },
      { seq: 2, kind: 'registered' },
      { seq: 3, kind: 'expired' },
    ]);
  });

  describe('which write stands, by the instant of the task that made it (a local write whose task may be lost)', () => {
    const counted = (id: string, seq: number, countedOrders: number): ProjectReferralInput => {
      const write = projection(id, seq, 'registered');
      return {
        ...write,
        referral: { ...write.referral, progress: { ...write.referral.progress, countedOrders } },
        entry: { ...write.entry, kind: COUNTED_PROGRESS, detail: { countedOrders } },
      };
    };
    const later = (write: ProjectReferralInput, ms: number): ProjectReferralInput => ({
      ...write,
      entry: { ...write.entry, at: new Date(Date.parse(write.entry.at) + ms).toISOString() },
    });
    /** a write of the task that made `task`'s: the same instant */
    const inTaskOf = (write: ProjectReferralInput, task: ProjectReferralInput): ProjectReferralInput => ({
      ...write,
      entry: { ...write.entry, at: task.entry.at },
    });
    const shown = async (id: string) => ({
      row: await db
        .selectFrom('referrals')
        .select(['status', 'counted_orders', 'projection_seq'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow(),
      timeline: await db
        .selectFrom('referral_timeline')
        .select(['seq', 'kind', 'detail'])
        .where('referral_id', '=', id)
        .orderBy('seq')
        .execute(),
    });
    const kinds = (timeline: { seq: number; kind: string }[]) => timeline.map(({ seq, kind }) => ({ seq, kind }));

    it('given a lost task’s count at a seq, when the retried task decides a transition at that seq, then the transition replaces it', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, counted(id, 3, 1));
      await env.run(activities.projectReferral, later(projection(id, 3, 'qualified'), 5_000));
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ status: 'qualified', projection_seq: 3 });
      expect(kinds(timeline)).toEqual([
        { seq: 2, kind: 'registered' },
        { seq: 3, kind: 'qualified' },
      ]);
    });

    it('given a lost task’s count at a seq, when the retried task counts other orders at that seq, then its count replaces the first', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, counted(id, 3, 1));
      await env.run(activities.projectReferral, later(counted(id, 3, 2), 5_000));
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 2, projection_seq: 3 });
      expect(timeline.at(-1)).toMatchObject({ seq: 3, kind: COUNTED_PROGRESS, detail: { countedOrders: 2 } });
    });

    it('given the retry’s transition at a seq, when the lost task’s count of that seq lands after it, then the transition stays shown', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, later(projection(id, 3, 'qualified'), 5_000));
      const stale = await env.run(activities.projectReferral, counted(id, 3, 1));
      expect(stale).toEqual({ written: false });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ status: 'qualified', counted_orders: 0, projection_seq: 3 });
      expect(kinds(timeline)).toEqual([
        { seq: 2, kind: 'registered' },
        { seq: 3, kind: 'qualified' },
      ]);
    });

    it('given the retry’s count written over a lost task’s, when the lost task’s write lands after it, then the retry’s count stays shown', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, later(counted(id, 3, 2), 5_000));
      const stale = await env.run(activities.projectReferral, counted(id, 3, 1));
      expect(stale).toEqual({ written: false });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 2, projection_seq: 3 });
      expect(timeline.at(-1)).toMatchObject({ seq: 3, detail: { countedOrders: 2 } });
    });

    it('given a lost task’s count shown at a seq, when the retry, which counted nothing new, corrects it, then the retry’s count is shown at that seq', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, counted(id, 3, 1));
      const corrected = await env.run(activities.projectReferral, {
        ...later(counted(id, 3, 0), 5_000),
        correctsOnly: true,
      });
      expect(corrected).toEqual({ written: true });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 0, projection_seq: 3 });
      expect(timeline.at(-1)).toMatchObject({ seq: 3, kind: COUNTED_PROGRESS, detail: { countedOrders: 0 } });
    });

    it('given no lost count (the projection shows the workflow’s last seq), when a correction is written, then nothing changes and it says so', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      const corrected = await env.run(activities.projectReferral, {
        ...later(counted(id, 3, 0), 5_000),
        correctsOnly: true,
      });
      expect(corrected).toEqual({ written: false });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ status: 'registered', projection_seq: 2 });
      expect(kinds(timeline)).toEqual([{ seq: 2, kind: 'registered' }]);
    });

    it('given a correction that found nothing, when the lost task’s count lands after it (its worker was stalled, not dead), then it is refused', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, { ...later(counted(id, 3, 0), 5_000), correctsOnly: true });
      const stale = await env.run(activities.projectReferral, counted(id, 3, 1));
      expect(stale).toEqual({ written: false });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 0, projection_seq: 2 });
      expect(kinds(timeline)).toEqual([{ seq: 2, kind: 'registered' }]);
      // the workflow's own next write, from a later task, lands as ever
      const next = await env.run(activities.projectReferral, later(counted(id, 3, 2), 10_000));
      expect(next).toEqual({ written: true });
    });

    it('given a lost task that wrote two counts (a seq and the next), when the retry corrects the first seq, then both give way and the row moves back to it', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      const lost = counted(id, 3, 1);
      await env.run(activities.projectReferral, lost);
      await env.run(activities.projectReferral, inTaskOf(counted(id, 4, 2), lost));
      const corrected = await env.run(activities.projectReferral, {
        ...later(counted(id, 3, 0), 5_000),
        correctsOnly: true,
      });
      expect(corrected).toEqual({ written: true });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 0, projection_seq: 3 });
      expect(kinds(timeline)).toEqual([
        { seq: 2, kind: 'registered' },
        { seq: 3, kind: COUNTED_PROGRESS },
      ]);
    });

    it('given a lost task that wrote two counts, when the retry decides a transition at the first seq, then it is shown, not the lost count above it', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      const lost = counted(id, 3, 1);
      await env.run(activities.projectReferral, lost);
      await env.run(activities.projectReferral, inTaskOf(counted(id, 4, 2), lost));
      const decided = await env.run(activities.projectReferral, later(projection(id, 3, 'expired'), 5_000));
      expect(decided).toEqual({ written: true });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ status: 'expired', counted_orders: 0, projection_seq: 3 });
      expect(kinds(timeline)).toEqual([
        { seq: 2, kind: 'registered' },
        { seq: 3, kind: 'expired' },
      ]);
    });

    it('given one task’s two writes (a seq and the next), when its write of the first seq runs again (a retried attempt), then it changes nothing', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      const first = counted(id, 3, 1);
      await env.run(activities.projectReferral, first);
      await env.run(activities.projectReferral, inTaskOf(counted(id, 4, 2), first));
      expect(await env.run(activities.projectReferral, first)).toEqual({ written: false });
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 2, projection_seq: 4 });
      expect(timeline).toHaveLength(3);
    });

    it('given a transition at a seq, when an earlier task’s correction of that seq lands, then the transition stays shown', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, later(projection(id, 3, 'qualified'), 5_000));
      const corrected = await env.run(activities.projectReferral, { ...counted(id, 3, 0), correctsOnly: true });
      expect(corrected).toEqual({ written: false });
      expect((await shown(id)).row).toMatchObject({ status: 'qualified', projection_seq: 3 });
    });

    it('given a row written before task instants were kept, when an earlier task’s write of its seq lands, then its timeline judges it stale', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, later(counted(id, 3, 2), 5_000));
      await db.updateTable('referrals').set({ projected_task_at: null }).where('id', '=', id).execute();
      expect(await env.run(activities.projectReferral, counted(id, 3, 1))).toEqual({ written: false });
      expect((await shown(id)).row).toMatchObject({ counted_orders: 2, projection_seq: 3 });
    });

    it('given a count, when the same write runs again (a local retry), then one entry shows it', async () => {
      const id = randomUUID();
      await env.run(activities.projectReferral, projection(id, 2, 'registered'));
      await env.run(activities.projectReferral, counted(id, 3, 1));
      await env.run(activities.projectReferral, counted(id, 3, 1));
      const { row, timeline } = await shown(id);
      expect(row).toMatchObject({ counted_orders: 1, projection_seq: 3 });
      expect(timeline).toHaveLength(2);
    });
  });
});

describe('registerReferee', () => {
  const register = (referralId: string, refereeId: string, extra: { email?: string; phone?: string } = {}) =>
    env.run(activities.registerReferee, { referralId, referrerId: 'anna', signup: signup(refereeId, extra) });

  it('given a new customer, when registered, then they are reserved for this referral, and a retry is harmless', async () => {
    const id = randomUUID();
    expect(await register(id, 'ben', { email: 'Ben@Example.com' })).toEqual({ outcome: 'registered' });
    expect(await register(id, 'ben')).toEqual({ outcome: 'registered' });
    const ben = await db.selectFrom('customers').selectAll().where('id', '=', 'ben').executeTakeFirstOrThrow();
    expect(ben).toMatchObject({ referred_by_referral_id: id, email_normalized: 'ben@example.com' });
  });

  it('given a customer referred once, when another referral registers them, then it is refused', async () => {
    await register(randomUUID(), 'ben');
    expect(await register(randomUUID(), 'ben')).toMatchObject({ outcome: 'refused', code: 'already_referred' });
  });

  it('given a customer held by a referral that expired without registering anyone, when another referral registers them, then it does', async () => {
    const lapsed = randomUUID();
    await env.run(activities.projectReferral, projection(lapsed, 1, 'pending'));
    // its registration reserved ben in a workflow task that was lost, then it expired
    expect(await register(lapsed, 'ben')).toEqual({ outcome: 'registered' });
    await env.run(activities.projectReferral, projection(lapsed, 1, 'expired'));
    const next = randomUUID();
    expect(await register(next, 'ben')).toEqual({ outcome: 'registered' });
    const ben = await db.selectFrom('customers').selectAll().where('id', '=', 'ben').executeTakeFirstOrThrow();
    expect(ben.referred_by_referral_id).toBe(next);
  });

  it('given a customer held by a referral that registered them and then expired, when another referral registers them, then it is refused', async () => {
    const first = randomUUID();
    expect(await register(first, 'ben')).toEqual({ outcome: 'registered' });
    await env.run(activities.projectReferral, projection(first, 2, 'expired'));
    expect(await register(randomUUID(), 'ben')).toMatchObject({ outcome: 'refused', code: 'already_referred' });
  });

  it('given the referrer, when they register with their own id, e-mail or phone, then it is refused and nothing is written', async () => {
    await upsertCustomer(db, { id: 'anna', email: 'anna@example.com', phone: '+91 98765 43210' });
    expect(await register(randomUUID(), 'anna')).toMatchObject({ outcome: 'refused', code: 'self_referral' });
    expect(await register(randomUUID(), 'anna-2', { email: ' ANNA@example.com' })).toMatchObject({
      code: 'self_referral',
    });
    expect(await register(randomUUID(), 'anna-3', { phone: '+919876543210' })).toMatchObject({ code: 'self_referral' });
    const customers = await db.selectFrom('customers').select('id').execute();
    expect(customers.map((c) => c.id)).toEqual(['anna']);
  });

  it('given two referrals racing for one customer, when both register at once, then exactly one wins', async () => {
    const outcomes = await Promise.all([
      register(randomUUID(), 'ben'),
      register(randomUUID(), 'ben'),
      register(randomUUID(), 'ben'),
    ]);
    expect(outcomes.filter((o) => o.outcome === 'registered')).toHaveLength(1);
  });
});

describe('takeOrdersAwaitingSignup', () => {
  it('given orders kept before the signup, when taken twice (a retry), then both calls return them all, oldest first', async () => {
    const order = (eventId: string, occurredAt: string) => ({
      kind: 'order' as const,
      eventId,
      customerId: 'ben',
      orderId: eventId,
      payload: {
        eventId,
        customerId: 'ben',
        orderId: eventId,
        status: 'completed',
        amount: 100,
        currency: 'INR',
        occurredAt,
      },
    });
    await acceptEvent(db, order('late', '2026-11-02T00:00:00.000Z'));
    await acceptEvent(db, order('early', '2026-11-01T00:00:00.000Z'));
    await acceptEvent(db, { ...order('someone-else', '2026-11-01T00:00:00.000Z'), customerId: 'carl' });
    const referralId = randomUUID();
    const first = await env.run(activities.takeOrdersAwaitingSignup, { referralId, refereeId: 'ben' });
    const retry = await env.run(activities.takeOrdersAwaitingSignup, { referralId, refereeId: 'ben' });
    expect(first.map((o) => o.eventId)).toEqual(['early', 'late']);
    expect(retry).toEqual(first);
    expect(first[0]).not.toHaveProperty('customerId');
  });
});

describe('takeReportedOrders', () => {
  it('given an order accepted whose delivery was cut off, when a deadline reads it, then it comes with the instant it was accepted and stays for the relay', async () => {
    const eventId = randomUUID();
    const accepted = await acceptEvent(db, {
      kind: 'order',
      eventId,
      customerId: 'dora',
      orderId: 'o-1',
      payload: {
        eventId,
        customerId: 'dora',
        orderId: 'o-1',
        status: 'completed',
        amount: 100,
        currency: 'INR',
        occurredAt: '2026-11-01T00:00:00.000Z',
      },
    });
    if (!accepted.accepted) throw new Error('not accepted');
    const referralId = randomUUID();
    const taken = await env.run(activities.takeReportedOrders, { referralId, refereeId: 'dora' });
    expect(taken).toEqual([
      {
        eventId,
        orderId: 'o-1',
        status: 'completed',
        amount: 100,
        currency: 'INR',
        occurredAt: '2026-11-01T00:00:00.000Z',
        reportedAt: accepted.event.received_at.toISOString(),
      },
    ]);
    // read only: the relay still delivers it, and a retry sees it again
    expect(await env.run(activities.takeReportedOrders, { referralId, refereeId: 'dora' })).toEqual(taken);
    const row = await db
      .selectFrom('inbox_events')
      .selectAll()
      .where('event_id', '=', eventId)
      .executeTakeFirstOrThrow();
    expect(row.state).toBe('received');
  });
});
