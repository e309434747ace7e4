import { findReferralPage, type ReferralListFilter, type ReferralListKey } from '../db/referrals';
import type { IntakeDependencies } from './deps';
import { cursorInstant, cursorText, decodeCursor, encodeCursor } from './page-cursor';
import { referralViewFromRow, UNDER_REVIEW, type ReferralView } from './referral-view';

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

const cursorReader =
  (list: ReferralList) =>
  (raw: Record<string, unknown>): ReferralListKey => {
    if (raw.list !== list) throw new Error('another list');
    const createdAt = cursorText(raw.createdAt);
    const id = cursorText(raw.id);
    if (!KEY_INSTANT.test(createdAt) || !UUID.test(id)) throw new Error('bad key');
    cursorInstant(createdAt);
    return { createdAt, id };
  };

/** The place in `list` a cursor stands for; throws validation_failed on one that list did not give out. */
export const readReferralListCursor = (list: ReferralList, cursor: string): ReferralListKey =>
  decodeCursor(cursor, cursorReader(list));

async function page(
  deps: IntakeDependencies,
  list: ReferralList,
  filter: ReferralListFilter,
  request: { limit: number; cursor?: string | undefined },
): Promise<ReferralPage> {
  const rows = await findReferralPage(deps.db, {
    filter,
    order: list === 'referrals' ? 'newest' : 'oldest',
    // One more than asked: whether it comes back says whether there is a next page.
    limit: request.limit + 1,
    after: request.cursor === undefined ? undefined : readReferralListCursor(list, request.cursor),
  });
  const shown = rows.slice(0, request.limit);
  const last = shown.at(-1);
  return {
    items: shown.map(referralViewFromRow),
    nextCursor:
      rows.length > request.limit && last
        ? encodeCursor({ list, createdAt: last.list_key_created_at, id: last.id })
        : null,
  };
}

const instant = (value: string | undefined): Date | undefined => (value === undefined ? undefined : new Date(value));

/** Referrals matching every filter given, newest first (by creation: a change to a referral does not move it). */
export const listReferrals = (deps: IntakeDependencies, query: ReferralListQuery): Promise<ReferralPage> =>
  page(
    deps,
    'referrals',
    {
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
    query,
  );

/** Referrals waiting for an admin's approve or reject, oldest first: the longest waiting is decided first. */
export const listReviewQueue = (
  deps: IntakeDependencies,
  request: { limit: number; cursor?: string | undefined },
): Promise<ReferralPage> => page(deps, 'review-queue', { status: UNDER_REVIEW }, request);
