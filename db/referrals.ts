import { sql } from 'kysely';
import type { DB } from './connection';
import { normaliseEmail, normalisePhone } from './contact';
import type { ReferralRow, TimelineRow } from './schema';
import type { ReferralTerms } from '../workflows/shared';

export const findReferral = (db: DB, id: string): Promise<ReferralRow | undefined> =>
  db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirst();

export const findTimeline = (db: DB, referralId: string): Promise<TimelineRow[]> =>
  db.selectFrom('referral_timeline').selectAll().where('referral_id', '=', referralId).orderBy('seq').execute();

/**
 * The pending claim a signup completes: same code, the invitee the claim named (by e-mail or phone), and not yet
 * expired when the signup happened (`at`, business time). A signup stamped a little before the claim's receipt still
 * matches it: the two clocks are different systems'.
 */
export async function findPendingClaimFor(
  db: DB,
  code: string,
  invitee: { email?: string | undefined; phone?: string | undefined; at: Date },
): Promise<ReferralRow | undefined> {
  const email = normaliseEmail(invitee.email);
  const phone = normalisePhone(invitee.phone);
  if (!email && !phone) return undefined;
  return db
    .selectFrom('referrals')
    .selectAll()
    .where('code', '=', code)
    .where('status', '=', 'pending')
    .where('expires_at', '>=', invitee.at)
    .where((eb) =>
      eb.or([...(email ? [eb('invitee_email', '=', email)] : []), ...(phone ? [eb('invitee_phone', '=', phone)] : [])]),
    )
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
}

/**
 * A fact that reached a referral after it ended, appended to its timeline so it is seen, not dropped; once per event.
 * Appended after the last entry under the referral's row lock, which the projection's writes take too: a workflow still
 * writing its close that reaches this seq moves the entry on rather than overwriting it (activities/referrals.ts).
 */
export async function appendLateFact(
  db: DB,
  referralId: string,
  fact: { at: Date; kind: string; eventId: string; detail: Record<string, unknown> },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const referral = await trx
      .selectFrom('referrals')
      .select('status')
      .where('id', '=', referralId)
      .forNoKeyUpdate()
      .executeTakeFirst();
    if (!referral) return;
    const already = await trx
      .selectFrom('referral_timeline')
      .select('seq')
      .where('referral_id', '=', referralId)
      .where('kind', '=', fact.kind)
      .where(sql<string>`detail->>'eventId'`, '=', fact.eventId)
      .executeTakeFirst();
    if (already) return;
    const last = await trx
      .selectFrom('referral_timeline')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .where('referral_id', '=', referralId)
      .executeTakeFirst();
    await trx
      .insertInto('referral_timeline')
      .values({
        referral_id: referralId,
        seq: (last?.seq ?? 0) + 1,
        at: fact.at,
        kind: fact.kind,
        status: referral.status,
        detail: JSON.stringify({ eventId: fact.eventId, ...fact.detail }),
      })
      .execute();
  });
}

/** Referrals a customer took part in, as referrer or referee, newest first. */
export const findReferralsOfCustomer = (db: DB, customerId: string, limit: number): Promise<ReferralRow[]> =>
  db
    .selectFrom('referrals')
    .selectAll()
    .where((eb) => eb.or([eb('referrer_id', '=', customerId), eb('referee_id', '=', customerId)]))
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(limit)
    .execute();

/** What an admin may narrow the referral list to; every filter given must hold. */
export interface ReferralListFilter {
  /** a status as the projection stores it; the review queue's under_review among them */
  status?: string | undefined;
  referrerId?: string | undefined;
  refereeId?: string | undefined;
  programId?: string | undefined;
  /** true: referrals with at least one fraud flag; false: those with none */
  flagged?: boolean | undefined;
  /** created at or after */
  createdFrom?: Date | undefined;
  /** created before */
  createdTo?: Date | undefined;
  /** last changed at or after */
  updatedFrom?: Date | undefined;
  /** last changed before */
  updatedTo?: Date | undefined;
}

/**
 * A row's place in the list: created_at to the microsecond PostgreSQL keeps (a JavaScript Date keeps milliseconds, and
 * a key rounded down would pass over the rows between it and the row it stands for), and the id that breaks ties.
 */
export interface ReferralListKey {
  createdAt: string;
  id: string;
}

export type ReferralListRow = ReferralRow & { list_key_created_at: string };

/**
 * A page of referrals in (created_at, id) order, newest or oldest first, after `after`. Both columns are set once, when
 * the referral is created, so a referral changed while an admin pages keeps its place: none is listed twice or passed
 * over. Each filter has an index (migration 0014); test/db/query-plans.test.ts explains every combination of them.
 */
export function findReferralPage(
  db: DB,
  page: {
    filter: ReferralListFilter;
    order: 'newest' | 'oldest';
    limit: number;
    after?: ReferralListKey | undefined;
  },
): Promise<ReferralListRow[]> {
  const { filter, after } = page;
  const direction = page.order === 'newest' ? 'desc' : 'asc';
  let query = db
    .selectFrom('referrals')
    .selectAll()
    .select(
      sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('list_key_created_at'),
    );
  if (filter.status !== undefined) query = query.where(sql.ref('status'), '=', filter.status);
  if (filter.referrerId !== undefined) query = query.where('referrer_id', '=', filter.referrerId);
  if (filter.refereeId !== undefined) query = query.where('referee_id', '=', filter.refereeId);
  if (filter.programId !== undefined) query = query.where('program_id', '=', filter.programId);
  // Spelled exactly as referrals_flagged_idx's predicate, constant and all (a parameter would keep the planner from
  // matching the two), and as a comparison with the empty list rather than a count: the planner keeps statistics of
  // the column, none of a function of it, and guessed a full scan cheaper for the unflagged.
  if (filter.flagged === true) query = query.where(sql<boolean>`flags <> '{}'::text[]`);
  if (filter.flagged === false) query = query.where(sql<boolean>`flags = '{}'::text[]`);
  if (filter.createdFrom) query = query.where('created_at', '>=', filter.createdFrom);
  if (filter.createdTo) query = query.where('created_at', '<', filter.createdTo);
  if (filter.updatedFrom) query = query.where('updated_at', '>=', filter.updatedFrom);
  if (filter.updatedTo) query = query.where('updated_at', '<', filter.updatedTo);
  if (after) {
    // One row comparison, not an OR of its cases: the index reads it as a single range.
    const key = sql`(cast(${after.createdAt} as timestamptz), cast(${after.id} as uuid))`;
    query = query.where(sql<boolean>`(created_at, id) ${sql.raw(direction === 'desc' ? '<' : '>')} ${key}`);
  }
  return query.orderBy('created_at', direction).orderBy('id', direction).limit(page.limit).execute();
}

/** A referral's place in the review queue: when its review started, to the microsecond, and the id that breaks ties. */
export interface ReviewQueueKey {
  reviewStartedAt: string;
  id: string;
}

export type ReviewQueueRow = ReferralRow & { queue_key: string };

/**
 * When a referral's review started, as the queue orders it: the review_started entry's instant, or for a row written by
 * a worker that did not record it yet, its registration. Spelled exactly as referrals_review_queue_idx's expression.
 */
const reviewStarted = sql<Date>`coalesce(review_started_at, registered_at, created_at)`;

/**
 * A page of the referrals under review, oldest review first, after `after`. The review's start is written once, as
 * the review starts, and nothing moves it while the referral waits, so paging lists none twice; one decided meanwhile
 * simply leaves the queue. Served by referrals_review_queue_idx (migration 0024), whose predicate the status test
 * spells exactly, constant and all, so the planner can match the two.
 */
export function findReviewQueuePage(
  db: DB,
  page: { limit: number; after?: ReviewQueueKey | undefined },
): Promise<ReviewQueueRow[]> {
  let query = db
    .selectFrom('referrals')
    .selectAll()
    .select(sql<string>`to_char(${reviewStarted} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('queue_key'))
    .where(sql<boolean>`status = 'under_review'`);
  if (page.after) {
    // One row comparison, not an OR of its cases: the index reads it as a single range.
    const key = sql`(cast(${page.after.reviewStartedAt} as timestamptz), cast(${page.after.id} as uuid))`;
    query = query.where(sql<boolean>`(${reviewStarted}, id) > ${key}`);
  }
  return query.orderBy(reviewStarted).orderBy('id').limit(page.limit).execute();
}

/** A referrer's sent referrals counted by where they got to (DESIGN §5.3's stats). */
export interface ReferrerStats {
  sent: number;
  registered: number;
  qualified: number;
  completed: number;
  expired: number;
  rejected: number;
}

/**
 * One grouped read of the referrer's referrals, through referrals_referrer_idx. Registered and qualified count what
 * reached that step at any time (a referral qualified and then expired was qualified); the ends count by status.
 */
export async function countReferralsOfReferrer(db: DB, referrerId: string): Promise<ReferrerStats> {
  const groups = await db
    .selectFrom('referrals')
    .select((eb) => [
      'status',
      eb.fn.countAll<string>().as('sent'),
      eb.fn.count<string>('registered_at').as('registered'),
      eb.fn.count<string>('qualified_at').as('qualified'),
    ])
    .where('referrer_id', '=', referrerId)
    .groupBy('status')
    .execute();
  const stats: ReferrerStats = { sent: 0, registered: 0, qualified: 0, completed: 0, expired: 0, rejected: 0 };
  for (const group of groups) {
    const sent = Number(group.sent);
    stats.sent += sent;
    stats.registered += Number(group.registered);
    stats.qualified += Number(group.qualified);
    if (group.status === 'completed' || group.status === 'expired' || group.status === 'rejected')
      stats[group.status] += sent;
  }
  return stats;
}

/** How many of the referrer's referrals have completed: each counted once, as the workflow counted it for the tier. */
export async function countReferrerCompletions(db: DB, referrerId: string): Promise<number> {
  const row = await db
    .selectFrom('referrer_completions')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('referrer_id', '=', referrerId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * The terms in force in the programme of the customer's referral code, the newest code's when they refer in several
 * programmes: the programme they refer in now. Undefined for a customer with no code.
 */
export async function findReferrerProgramTerms(db: DB, customerId: string): Promise<ReferralTerms | undefined> {
  const row = await db
    .selectFrom('referral_codes')
    .innerJoin('programs', 'programs.id', 'referral_codes.program_id')
    .innerJoin('program_versions', (join) =>
      join
        .onRef('program_versions.program_id', '=', 'programs.id')
        .onRef('program_versions.version', '=', 'programs.current_version'),
    )
    .select('program_versions.terms')
    .where('referral_codes.customer_id', '=', customerId)
    .orderBy('referral_codes.created_at', 'desc')
    .orderBy('referral_codes.code', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.terms;
}
