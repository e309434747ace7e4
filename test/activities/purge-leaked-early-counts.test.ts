import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInboxActivities } from '../../activities/inbox';
import type { DB } from '../../db/connection';
import { countReferralEarly } from '../../db/customer-contexts';
import { createTestDatabase } from '../support/database';

/**
 * The retention's sweep of early counts over a real database: a referral counted toward its referrer's pace that the
 * projection never took over stops counting once it is past any first projection write.
 */
let db: DB;
let drop: () => Promise<void>;
let purge: ReturnType<typeof createInboxActivities>['purgeLeakedEarlyCounts'];
const MINUTE = 60_000;
const DAY = 86_400_000;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  purge = createInboxActivities({ db }).purgeLeakedEarlyCounts;
});
afterAll(() => drop());

/**
 * A referral of `referrerId`'s counted early `ago` ms ago, whose workflow never wrote it; created when it was counted,
 * or `createdAgo` ms ago (a signup by code delivered late).
 */
async function countedEarly(referrerId: string, ago: number, createdAgo = ago): Promise<string> {
  const referralId = randomUUID();
  const createdAt = new Date(Date.now() - createdAgo);
  await db.transaction().execute((trx) => countReferralEarly(trx, { referralId, referrerId, createdAt }));
  await db
    .updateTable('referrals_counted_early')
    .set({ counted_at: new Date(Date.now() - ago) })
    .where('referral_id', '=', referralId)
    .execute();
  return referralId;
}

const remaining = async (referralIds: string[]): Promise<string[]> =>
  (
    await db
      .selectFrom('referrals_counted_early')
      .select('referral_id')
      .where('referral_id', 'in', referralIds)
      .execute()
  )
    .map((row) => row.referral_id)
    .toSorted((a, b) => a.localeCompare(b));

const aDayAgo = () => new Date(Date.now() - DAY).toISOString();

describe('purgeLeakedEarlyCounts', () => {
  it('given a referral counted early two days ago and one counted a minute ago, when the sweep runs, then the old count goes and the fresh one stays', async () => {
    const referrerId = `anna-${randomUUID()}`;
    const leaked = await countedEarly(referrerId, 2 * DAY);
    const underWay = await countedEarly(referrerId, MINUTE);

    expect(await purge({ countedBefore: aDayAgo(), limit: 1_000 })).toBe(1);

    expect(await remaining([leaked, underWay])).toEqual([underWay]);
  });

  it('given a signup by code delivered three days late, counted a minute ago, when the sweep runs, then its count stays', async () => {
    const late = await countedEarly(`cara-${randomUUID()}`, MINUTE, 3 * DAY);

    await purge({ countedBefore: aDayAgo(), limit: 1_000 });

    expect(await remaining([late])).toEqual([late]);
  });

  it('given more leaked counts than one batch, when the sweep runs, then it takes one batch and the next run the rest', async () => {
    const referrerId = `bea-${randomUUID()}`;
    const leaked = [await countedEarly(referrerId, 3 * DAY), await countedEarly(referrerId, 2 * DAY)];
    leaked.push(await countedEarly(referrerId, 2 * DAY + MINUTE));

    expect(await purge({ countedBefore: aDayAgo(), limit: 2 })).toBe(2);
    expect(await remaining(leaked)).toHaveLength(1);

    expect(await purge({ countedBefore: aDayAgo(), limit: 2 })).toBe(1);
    expect(await remaining(leaked)).toEqual([]);
  });
});
