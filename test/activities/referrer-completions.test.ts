import { MockActivityEnvironment } from '@temporalio/testing';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { DB } from '../../db/connection';
import { createTestDatabase } from '../support/database';

let db: DB;
let drop: () => Promise<void>;
let activities: ReturnType<typeof createActivities>;
const mockEnv = new MockActivityEnvironment();
const record = (referrerId: string, referralId: string) =>
  mockEnv.run(activities.recordReferrerCompletion, {
    referralId,
    referrerId,
    completedAt: new Date().toISOString(),
  }) as Promise<{ ordinal: number }>;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  activities = createActivities({ db });
});
afterAll(() => drop());

describe('a referrer’s completions', () => {
  it('given completions of one referrer, when each is recorded (one twice), then each gets its place once, the repeat the place it got', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    expect(await record('cora', first)).toEqual({ ordinal: 1 });
    expect(await record('cora', second)).toEqual({ ordinal: 2 });
    expect(await record('cora', first)).toEqual({ ordinal: 1 });
    expect(await record('dora', randomUUID())).toEqual({ ordinal: 1 });
  });

  it('given ten completions of one referrer at the same moment, then they get places 1 to 10, none shared', async () => {
    const places = await Promise.all(Array.from({ length: 10 }, () => record('eve', randomUUID())));
    expect(places.map((p) => p.ordinal).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});
