import { sql, type Transaction } from 'kysely';
import type { DB } from '../db/connection';
import { normaliseEmail, normalisePhone } from '../db/contact';
import type { Database, NewReferralRow } from '../db/schema';
import { settleFailedItemAsMoved } from '../db/term-moves';
import { issueVoucher, voidVoucherOfReferral } from '../db/vouchers';
import { judgeProjectionWrite } from './projection-order';
import {
  REFUSALS,
  type ClaimContext,
  type ReferralSnapshot,
  type SignupFacts,
  type TimelineEntry,
  voucherIssuedEntry,
} from '../workflows/shared';

/** The timeline entry the workflow writes as a referral goes under review: the review queue orders by its instant. */
const REVIEW_STARTED = 'review_started';
/** An order that reached the referral after it ended, appended by the workflow or by the intake (appendLateFact). */
const LATE_FACT = 'late_fact';

export type ReferralProjection = Omit<ReferralSnapshot, 'recentTimeline' | 'countedOrders'>;

export interface ProjectReferralInput {
  referral: ReferralProjection;
  claim?: ClaimContext | undefined;
  entry: TimelineEntry;
  /**
   * Written only over entries at or above its seq, which can only be a lost task's (the workflow has not taken that
   * seq). The retry of a lost task that counted orders asserts its own progress this way when it saw no change to
   * write; otherwise the lost task's count would stay shown. With nothing to correct, nothing is written, and no write
   * of an earlier task lands after it.
   */
  correctsOnly?: boolean | undefined;
  /**
   * The entry ends the referral for good (it failed): the write closes its row too, so later facts are settled from
   * the projection. A close already made keeps its instant; a write judged stale closes nothing.
   */
  closedAt?: string | undefined;
}

/** Whether the write landed, and for a write that asked to close the row (`closedAt`), that it did. */
export interface ProjectionWritten {
  written: boolean;
  closed?: true;
}

export interface ProjectReferralEndInput extends ProjectReferralInput {
  /** the referee's voucher to void with the end (the referral failed) */
  voidVoucher?: { code: string; reason: string } | undefined;
}

export interface ProjectRegistrationInput extends ProjectReferralInput {
  /** the referee's voucher, issued with the registration (once: a retry finds the voucher the first attempt issued) */
  voucher: { customerId: string; amount: number; currency: string; issuedAt: string; expiresAt: string };
}

export interface ReferralEndWritten {
  /** the voucher voided, with its status after (`redeemed` when the referee had used it), or null */
  voucher: { code: string; status: string | null } | null;
  /** the end's write closed the row (it asked to, with `closedAt`) */
  closed?: true;
}

export interface RegisterRefereeInput {
  referralId: string;
  referrerId: string;
  signup: SignupFacts;
}

export type RegistrationOutcome =
  | { outcome: 'registered' }
  | { outcome: 'refused'; code: (typeof REFUSALS)['selfReferral' | 'alreadyReferred']; detail: string };

/** Thrown inside a transaction to roll it back: a refused signup must change nothing. */
class Refusal extends Error {
  constructor(readonly refusal: Extract<RegistrationOutcome, { outcome: 'refused' }>) {
    super(refusal.detail);
  }
}
const refuse = (code: Extract<RegistrationOutcome, { outcome: 'refused' }>['code'], detail: string): never => {
  throw new Refusal({ outcome: 'refused', code, detail });
};

/**
 * The intake appends a late fact after the last entry it sees while the workflow, writing its close, may still append
 * its own at the next seq: both take the seq after the last. The workflow's entry takes its seq, and the intake's moves
 * after the last entry, so neither overwrites the other. One fact is shown once: the intake's entry for an event the
 * workflow records too gives way to the workflow's.
 */
async function makeRoomForWorkflowEntry(
  trx: Transaction<Database>,
  { referralId, after, entry }: { referralId: string; after: number; entry: TimelineEntry },
): Promise<void> {
  const eventId = entry.kind === LATE_FACT ? entry.detail?.eventId : undefined;
  if (typeof eventId === 'string') {
    await trx
      .deleteFrom('referral_timeline')
      .where('referral_id', '=', referralId)
      .where('seq', '>', after)
      .where('kind', '=', LATE_FACT)
      .where(sql<string>`detail->>'eventId'`, '=', eventId)
      .execute();
  }
  await trx
    .updateTable('referral_timeline')
    .set({
      seq: (eb) =>
        eb
          .selectFrom('referral_timeline as last')
          .select(sql<number>`max(last.seq) + 1`.as('seq'))
          .where('last.referral_id', '=', referralId),
    })
    .where('referral_id', '=', referralId)
    .where('seq', '=', entry.seq)
    .execute();
}

/**
 * Writes one transition of the workflow into the projection. Keyed by (referral, seq): a retry inserts no second
 * timeline entry, and which write stands is judged by the instant of the task that made it (judgeProjectionWrite): a
 * later task's write of a seq replaces a lost task's entries, and a stale write (an attempt that outlived its timeout,
 * a lost task's that lands late) changes nothing, neither the row nor the timeline.
 */
async function writeProjection(
  trx: Transaction<Database>,
  { referral, claim, entry, correctsOnly, closedAt }: ProjectReferralInput,
): Promise<boolean> {
  const underReview = referral.status === 'under_review';
  const row: NewReferralRow = {
    id: referral.referralId,
    program_id: referral.programId,
    program_version: referral.programVersion,
    code: referral.code,
    referrer_id: referral.referrerId,
    referee_id: referral.refereeId,
    status: referral.status,
    channel: claim?.channel ?? null,
    invitee_email: normaliseEmail(claim?.invitee?.email),
    invitee_phone: normalisePhone(claim?.invitee?.phone),
    ip: claim?.context?.ip ?? null,
    device_id: claim?.context?.deviceId ?? null,
    created_at: referral.createdAt,
    registered_at: referral.registeredAt,
    qualified_at: referral.qualifiedAt,
    completed_at: referral.completedAt,
    ended_at: referral.endedAt,
    end_reason: referral.endReason,
    expires_at: referral.deadlines.expiresAt,
    qualify_by: referral.deadlines.qualifyBy,
    hold_until: referral.deadlines.holdUntil,
    counted_orders: referral.progress.countedOrders,
    counted_spend: referral.progress.countedSpend,
    projection_seq: entry.seq,
    projected_task_at: entry.at,
    updated_at: entry.at,
    // Snapshots from before the fraud review say nothing of either: the row keeps what it has.
    ...(referral.flags === undefined ? {} : { flags: referral.flags }),
    ...(referral.review === undefined ? {} : { review_decide_by: referral.review?.decideBy ?? null }),
    review_started_at: underReview ? entry.at : null,
    ...(closedAt === undefined ? {} : { closed_at: closedAt }),
  };
  // The seq the workflow wrote last, read under the row lock the intake's late facts take too: every timeline
  // entry above it was appended by the intake (appendLateFact), never by this workflow.
  const before = await trx
    .selectFrom('referrals')
    .select(['projection_seq', 'projected_task_at'])
    .where('id', '=', referral.referralId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  const verdict = judgeProjectionWrite(
    {
      seq: before?.projection_seq,
      taskAtMs: before?.projected_task_at?.getTime() ?? null,
      entries:
        before && entry.seq <= before.projection_seq
          ? await workflowEntriesFrom(trx, {
              referralId: referral.referralId,
              from: entry.seq,
              to: before.projection_seq,
            })
          : [],
    },
    { seq: entry.seq, atMs: Date.parse(entry.at), correctsOnly },
  );
  if (verdict === 'stale') return false;
  if (verdict === 'heard') {
    await trx
      .updateTable('referrals')
      .set({ projected_task_at: entry.at })
      .where('id', '=', referral.referralId)
      .execute();
    return false;
  }
  if (before && entry.seq < before.projection_seq) {
    // a lost task's entries: the history that stands has not reached them
    await trx
      .deleteFrom('referral_timeline')
      .where('referral_id', '=', referral.referralId)
      .where('seq', '>', entry.seq)
      .where('seq', '<=', before.projection_seq)
      .execute();
  }
  const written = await trx
    .insertInto('referrals')
    .values(row)
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          referee_id: eb.ref('excluded.referee_id'),
          // an admin's move to new terms changes it (workflows/terms-move.ts)
          program_version: eb.ref('excluded.program_version'),
          status: eb.ref('excluded.status'),
          registered_at: eb.ref('excluded.registered_at'),
          qualified_at: eb.ref('excluded.qualified_at'),
          completed_at: eb.ref('excluded.completed_at'),
          ended_at: eb.ref('excluded.ended_at'),
          end_reason: eb.ref('excluded.end_reason'),
          expires_at: eb.ref('excluded.expires_at'),
          qualify_by: eb.ref('excluded.qualify_by'),
          hold_until: eb.ref('excluded.hold_until'),
          counted_orders: eb.ref('excluded.counted_orders'),
          counted_spend: eb.ref('excluded.counted_spend'),
          projection_seq: eb.ref('excluded.projection_seq'),
          projected_task_at: eb.ref('excluded.projected_task_at'),
          updated_at: eb.ref('excluded.updated_at'),
          ...(referral.flags === undefined ? {} : { flags: eb.ref('excluded.flags') }),
          ...(referral.review === undefined ? {} : { review_decide_by: eb.ref('excluded.review_decide_by') }),
          ...(closedAt === undefined ? {} : { closed_at: eb.fn.coalesce('referrals.closed_at', 'excluded.closed_at') }),
          // The queue's order: set by the review_started entry (a rewrite of its seq moves it to the decision
          // that stands), kept by the writes made while the referral waits, cleared once it is decided. A
          // referral found waiting with no start on record waits from this write.
          review_started_at:
            entry.kind === REVIEW_STARTED
              ? eb.ref('excluded.review_started_at')
              : underReview
                ? eb.fn.coalesce('referrals.review_started_at', 'excluded.review_started_at')
                : null,
        }))
        // Judged above under the row lock; this holds only against a first write of the row made meanwhile.
        .where((eb) =>
          eb.or([
            eb('referrals.projected_task_at', 'is', null),
            eb('referrals.projected_task_at', '<=', eb.ref('excluded.projected_task_at')),
          ]),
        ),
    )
    .returning('id')
    .executeTakeFirst();
  if (!written) return false;
  // From its first write on, the projection counts the referral toward its referrer's pace.
  if (!before) await trx.deleteFrom('referrals_counted_early').where('referral_id', '=', referral.referralId).execute();
  if (before && entry.seq > before.projection_seq)
    await makeRoomForWorkflowEntry(trx, { referralId: referral.referralId, after: before.projection_seq, entry });
  await trx
    .insertInto('referral_timeline')
    .values({
      referral_id: referral.referralId,
      seq: entry.seq,
      at: entry.at,
      kind: entry.kind,
      status: entry.status,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    })
    .onConflict((oc) =>
      oc.columns(['referral_id', 'seq']).doUpdateSet((eb) => ({
        at: eb.ref('excluded.at'),
        kind: eb.ref('excluded.kind'),
        status: eb.ref('excluded.status'),
        detail: eb.ref('excluded.detail'),
      })),
    )
    .execute();
  if (entry.kind === 'terms_moved' && entry.detail)
    await settleFailedItemAsMoved(trx, { referralId: referral.referralId, detail: entry.detail, at: entry.at });
  return true;
}

/** The workflow's timeline entries in [from, to]: those at or above a write's seq, up to the seq the row shows. */
async function workflowEntriesFrom(
  trx: Transaction<Database>,
  { referralId, from, to }: { referralId: string; from: number; to: number },
): Promise<{ seq: number; atMs: number }[]> {
  const rows = await trx
    .selectFrom('referral_timeline')
    .select(['seq', 'at'])
    .where('referral_id', '=', referralId)
    .where('seq', '>=', from)
    .where('seq', '<=', to)
    .execute();
  return rows.map((row) => ({ seq: row.seq, atMs: new Date(row.at).getTime() }));
}

/** Said only to a write that asked to close the row: a workflow reading an older worker's answer closes it itself. */
const closedBy = (input: ProjectReferralInput, written: boolean): { closed?: true } =>
  input.closedAt !== undefined && written ? { closed: true } : {};

export function createReferralActivities({ db }: { db: DB }) {
  return {
    /** One transition of the workflow into the projection (writeProjection's rules); whether it was written. */
    async projectReferral(input: ProjectReferralInput): Promise<ProjectionWritten> {
      const written = await db.transaction().execute((trx) => writeProjection(trx, input));
      return { written, ...closedBy(input, written) };
    },

    /**
     * The registration and the referee's voucher in one transaction: the voucher issued, the `registered` entry and
     * the `voucher_issued` one after it (voucherIssuedEntry). One activity where there were three.
     */
    async projectRegistration({
      voucher,
      ...input
    }: ProjectRegistrationInput): Promise<{ code: string; expiresAt: string }> {
      const { referralId } = input.referral;
      return db.transaction().execute(async (trx) => {
        const { voucher: issued } = await issueVoucher(trx, {
          referralId,
          customerId: voucher.customerId,
          amount: voucher.amount,
          currency: voucher.currency,
          issuedAt: new Date(voucher.issuedAt),
          expiresAt: new Date(voucher.expiresAt),
        });
        const given = { code: issued.code, expiresAt: issued.expires_at.toISOString() };
        await writeProjection(trx, input);
        await writeProjection(trx, {
          ...input,
          entry: voucherIssuedEntry(input.entry, {
            code: given.code,
            amount: voucher.amount,
            currency: voucher.currency,
            expiresAt: given.expiresAt,
          }),
        });
        return given;
      });
    },

    /**
     * The write that ends a failed referral, in one transaction: its referee's voucher voided (a used one stays used,
     * and the entry says which) and the end projected, so whoever sees the end sees the voucher void. One activity
     * where there were two; running it again changes nothing more.
     */
    async projectReferralEnd({ voidVoucher, ...input }: ProjectReferralEndInput): Promise<ReferralEndWritten> {
      const { referralId } = input.referral;
      return db.transaction().execute(async (trx) => {
        let voucher: { code: string; status: string | null } | null = null;
        if (voidVoucher) {
          const voided = await voidVoucherOfReferral(trx, {
            referralId,
            reason: voidVoucher.reason,
            at: new Date(input.entry.at),
          });
          voucher = { code: voidVoucher.code, status: voided?.status ?? null };
        }
        const entry = voucher ? { ...input.entry, detail: { ...input.entry.detail, voucher } } : input.entry;
        const written = await writeProjection(trx, { ...input, entry });
        return { voucher, ...closedBy(input, written) };
      });
    },

    /**
     * The workflow has finished: later orders of its referee are settled from the projection. A failed referral's end
     * is closed by its own write (`closedAt`); this closes the others, and those of runs from before that. Running it
     * twice keeps the first instant.
     */
    async markReferralClosed({ referralId, closedAt }: { referralId: string; closedAt: string }): Promise<void> {
      await db
        .updateTable('referrals')
        .set({ closed_at: closedAt })
        .where('id', '=', referralId)
        .where('closed_at', 'is', null)
        .execute();
    },

    /**
     * Compensation: frees a referee this referral reserved but whose registration never reached the projection, so
     * the customer is not held for ever by a referral that never registered. Only this referral's reservation is
     * cleared; running it twice is a no-op.
     */
    async releaseReferee({
      referralId,
      refereeId,
    }: {
      referralId: string;
      refereeId: string;
    }): Promise<{ released: boolean }> {
      const result = await db
        .updateTable('customers')
        .set({ referred_by_referral_id: null, updated_at: new Date() })
        .where('id', '=', refereeId)
        .where('referred_by_referral_id', '=', referralId)
        .executeTakeFirst();
      return { released: result.numUpdatedRows > 0n };
    },

    /**
     * Checks the signup rules and reserves the referee for this referral, atomically: the customer row is locked,
     * so two signups racing for one customer cannot both succeed. Running it twice for the same referral is a no-op.
     */
    async registerReferee({ referralId, referrerId, signup }: RegisterRefereeInput): Promise<RegistrationOutcome> {
      const email = normaliseEmail(signup.email);
      const phone = normalisePhone(signup.phone);
      try {
        await db.transaction().execute(async (trx) => {
          if (signup.refereeId === referrerId) refuse(REFUSALS.selfReferral, 'a customer cannot use their own code');

          await trx
            .insertInto('customers')
            .values({ id: signup.refereeId, email_normalized: email, phone_normalized: phone })
            .onConflict((oc) => oc.column('id').doNothing())
            .execute();
          const referee = await trx
            .selectFrom('customers')
            .selectAll()
            .where('id', '=', signup.refereeId)
            .forUpdate()
            .executeTakeFirstOrThrow();

          const holder = referee.referred_by_referral_id;
          if (holder && holder !== referralId && !(await endedUnregistered(trx, holder))) {
            refuse(REFUSALS.alreadyReferred, `customer ${signup.refereeId} was already referred`);
          }

          const referrer = await trx
            .selectFrom('customers')
            .select(['email_normalized', 'phone_normalized'])
            .where('id', '=', referrerId)
            .executeTakeFirst();
          const refereeEmail = email ?? referee.email_normalized;
          const refereePhone = phone ?? referee.phone_normalized;
          if (referrer && refereeEmail && referrer.email_normalized === refereeEmail) {
            refuse(REFUSALS.selfReferral, 'the referee has the referrer’s e-mail address');
          }
          if (referrer && refereePhone && referrer.phone_normalized === refereePhone) {
            refuse(REFUSALS.selfReferral, 'the referee has the referrer’s phone number');
          }

          await trx
            .updateTable('customers')
            .set({
              referred_by_referral_id: referralId,
              email_normalized: refereeEmail,
              phone_normalized: refereePhone,
              updated_at: new Date(),
            })
            .where('id', '=', signup.refereeId)
            .execute();
        });
        return { outcome: 'registered' };
      } catch (error) {
        if (error instanceof Refusal) return error.refusal;
        throw error;
      }
    },
  };
}

/**
 * A hold left by a referral that ended without registering anyone: its registration reserved the customer in a
 * workflow task that was lost (the worker and Temporal died before recording it), then it lapsed. Such a hold refers
 * nobody; the projection never takes such a referral out of that state, so the customer is free to register.
 */
async function endedUnregistered(trx: Transaction<Database>, referralId: string): Promise<boolean> {
  const referral = await trx
    .selectFrom('referrals')
    .select('id')
    .where('id', '=', referralId)
    .where('status', 'in', ['expired', 'rejected', 'cancelled'])
    .where('registered_at', 'is', null)
    .where('referee_id', 'is', null)
    .executeTakeFirst();
  return referral !== undefined;
}
