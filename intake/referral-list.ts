import { findReferralPage, findReviewQueuePage, type ReferralListKey, type ReviewQueueKey } from '../db/referrals';
import type { ReferralRow } from '../db/schema';
import type { IntakeDependencies } from './deps';
import { cursorInstant, cursorText, decodeCursor, encodeCursor } from './page-cursor';
import { referralViewFromRow, type ReferralView } from './referral-view';

/** Which list a cursor was given out by: a cursor of one, read by the other, would name a place in another order. */
export type ReferralList = 'referrals' | 'review-queue';

export interface ReferralPage {
  items: ReferralView[];
  nextCursor: string | null;
}

export interface ReferralListQuery {
  status?: string | undefined;
  referrerId?: string | undefined;
  refereeId?: string | undefined;
  programId?: string | undefined;
  flagged?: boolean | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  updatedFrom?: string | undefined;
  updatedTo?: string | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** created_at as the list keys it: UTC, to the microsecond (see ReferralListKey). */
const KEY_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
/** The id column is a uuid: any other text would fail the query instead of being refused. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An instant as the lists key them (UTC, to the microsecond) and a uuid: anything else was not given out by a list. */
function keyParts(instant: unknown, id: unknown): { instant: string; id: string } {
  const at = cursorText(instant);
  const text = cursorText(id);
  if (!KEY_INSTANT.test(at) || !UUID.test(text)) throw new Error('bad key');
  cursorInstant(at);
  return { instant: at, id: text };
}

const readListKey = (raw: Record<string, unknown>): ReferralListKey => {
  if (raw.list !== 'referrals') throw new Error('another list');
  const { instant, id } = keyParts(raw.createdAt, raw.id);
  return { createdAt: instant, id };
};

// The queue's cursors name when the review started: one from before the queue was ordered so (createdAt) is refused.
const readQueueKey = (raw: Record<string, unknown>): ReviewQueueKey => {
  if (raw.list !== 'review-queue') throw new Error('another list');
  const { instant, id } = keyParts(raw.reviewStartedAt, raw.id);
  return { reviewStartedAt: instant, id };
};

/** The place in the referral list a cursor stands for; throws validation_failed on one that list did not give out. */
export const readReferralListCursor = (_list: 'referrals', cursor: string): ReferralListKey =>
  decodeCursor(cursor, readListKey);

/** The place in the review queue a cursor stands for; throws validation_failed on one the queue did not give out. */
export const readReviewQueueCursor = (cursor: string): ReviewQueueKey => decodeCursor(cursor, readQueueKey);

/** One more row than asked: whether it comes back says whether there is a next page. */
function pageOf<Row extends ReferralRow>(
  rows: Row[],
  limit: number,
  cursorOf: (row: Row) => Record<string, string>,
): ReferralPage {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return {
    items: shown.map(referralViewFromRow),
    nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null,
  };
}

const instant = (value: string | undefined): Date | undefined => (value === undefined ? undefined : new Date(value));

/** Referrals matching every filter given, newest first (by creation: a change to a referral does not move it). */
export async function listReferrals(deps: IntakeDependencies, query: ReferralListQuery): Promise<ReferralPage> {
  const rows = await findReferralPage(deps.db, {
    filter: {
      status: query.status,
      referrerId: query.referrerId,
      refereeId: query.refereeId,
      programId: query.programId,
      flagged: query.flagged,
      createdFrom: instant(query.createdFrom),
      createdTo: instant(query.createdTo),
      updatedFrom: instant(query.updatedFrom),
      updatedTo: instant(query.updatedTo),
    },
    order: 'newest',
    limit: query.limit + 1,
    after: query.cursor === undefined ? undefined : readReferralListCursor('referrals', query.cursor),
  });
  return pageOf(rows, query.limit, (row) => ({
    list: 'referrals' satisfies ReferralList,
    createdAt: row.list_key_created_at,
    id: row.id,
  }));
}

/**
 * Referrals waiting for an admin's approve or reject, in the order their reviews started: the longest waiting is
 * decided first, however long before its signup its claim was made.
 */
export async function listReviewQueue(
  deps: IntakeDependencies,
  request: { limit: number; cursor?: string | undefined },
): Promise<ReferralPage> {
  const rows = await findReviewQueuePage(deps.db, {
    limit: request.limit + 1,
    after: request.cursor === undefined ? undefined : readReviewQueueCursor(request.cursor),
  });
  return pageOf(rows, request.limit, (row) => ({
    list: 'review-queue' satisfies ReferralList,
    reviewStartedAt: row.queue_key,
    id: row.id,
  }));
}
