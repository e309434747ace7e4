import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReferralActivities, type ProjectReferralInput } from '../../activities/referrals';
import type { DB } from '../../db/connection';
import { createProgram } from '../../db/programs';
import { appendLateFact, findTimeline } from '../../db/referrals';
import { DEFAULT_REFERRAL_TERMS, type TimelineEntry } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * An order for a referral that has ended is shown on its timeline by whichever side takes it: the intake, from the
 * projection, or the workflow, still writing its close. Both append after the last entry they know of, so both can
 * reach the same seq; each entry must survive, once.
 */
let db: DB;
let drop: () => Promise<void>;
let project: (input: ProjectReferralInput) => Promise<unknown>;
const programId = 'program-late-facts';
const ENDED_AT = '2026-11-20T00:00:00.000Z';

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  project = createReferralActivities({ db }).projectReferral;
  await createProgram(db, { id: programId, name: 'Late', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());

/** The workflow's write of its timeline entry `seq`, the referral expired since seq 2. */
function workflowWrite(referralId: string, seq: number, kind: string, detail?: Record<string, unknown>) {
  const entry: TimelineEntry = {
    seq,
    at: new Date(Date.parse(ENDED_AT) + seq * 1000).toISOString(),
    kind,
    status: seq === 1 ? 'registered' : 'expired',
    detail,
  };
  return project({
    referral: {
      referralId,
      status: entry.status,
      programId,
      programVersion: 1,
      currency: 'INR',
      code: 'ANNA2026',
      referrerId: 'anna',
      refereeId: `ben-${referralId}`,
      createdAt: '2026-11-01T00:00:00.000Z',
      registeredAt: '2026-11-01T00:00:00.000Z',
      qualifiedAt: null,
      completedAt: null,
      endedAt: seq === 1 ? null : ENDED_AT,
      endReason: seq === 1 ? null : 'qualification_window_closed',
      deadlines: { expiresAt: null, qualifyBy: ENDED_AT, holdUntil: null },
      terms: DEFAULT_REFERRAL_TERMS,
      progress: { countedOrders: 0, countedSpend: 0, minOrders: 1, minSpend: 0 },
    },
    entry,
  });
}

const workflowLateFact = (referralId: string, seq: number, eventId: string) =>
  workflowWrite(referralId, seq, 'late_fact', { fact: 'order', eventId, reason: 'the referral had ended' });

const intakeLateFact = (referralId: string, eventId: string) =>
  appendLateFact(db, referralId, {
    at: new Date('2026-11-21T00:00:00.000Z'),
    kind: 'late_fact',
    eventId,
    detail: { fact: 'order', reason: 'the referral had ended' },
  });

/** The timeline as (seq, kind, eventId), oldest first. */
const timeline = async (referralId: string) =>
  (await findTimeline(db, referralId)).map((row) => ({
    seq: row.seq,
    kind: row.kind,
    eventId: (row.detail as { eventId?: string } | null)?.eventId ?? null,
  }));

async function endedReferral(): Promise<string> {
  const referralId = randomUUID();
  await workflowWrite(referralId, 1, 'registered');
  await workflowWrite(referralId, 2, 'qualification_window_closed');
  return referralId;
}

describe('late facts from the intake and the workflow on one timeline', () => {
  it('given an ended referral whose intake appended a late fact at seq 3, when the workflow writes its own late fact as seq 3, then both are on the timeline, each once, and retries of either add nothing', async () => {
    const referralId = await endedReferral();
    await intakeLateFact(referralId, 'order-a');
    await workflowLateFact(referralId, 3, 'order-b');
    const both = (await timeline(referralId)).slice(2);
    // retries: the workflow's activity, and the relay settling its event again
    await workflowLateFact(referralId, 3, 'order-b');
    await intakeLateFact(referralId, 'order-a');

    expect(await timeline(referralId)).toEqual([
      { seq: 1, kind: 'registered', eventId: null },
      { seq: 2, kind: 'qualification_window_closed', eventId: null },
      ...both,
    ]);
    expect(both).toEqual([
      { seq: 3, kind: 'late_fact', eventId: 'order-b' },
      { seq: 4, kind: 'late_fact', eventId: 'order-a' },
    ]);
    expect(await timeline(referralId)).toEqual([
      { seq: 1, kind: 'registered', eventId: null },
      { seq: 2, kind: 'qualification_window_closed', eventId: null },
      { seq: 3, kind: 'late_fact', eventId: 'order-b' },
      { seq: 4, kind: 'late_fact', eventId: 'order-a' },
    ]);
  });

  it('given intake entries past the workflow’s last, when the workflow writes two more late facts, then every entry keeps a seq of its own', async () => {
    const referralId = await endedReferral();
    await intakeLateFact(referralId, 'order-a');
    await intakeLateFact(referralId, 'order-b');
    await workflowLateFact(referralId, 3, 'order-c');
    await workflowLateFact(referralId, 4, 'order-d');

    const entries = await timeline(referralId);
    expect(entries.map((entry) => entry.eventId).slice(2)).toEqual(['order-c', 'order-d', 'order-a', 'order-b']);
    expect(entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('given the intake showed an order the workflow also took, when the workflow records it, then the order is shown once, as the workflow wrote it', async () => {
    const referralId = await endedReferral();
    await intakeLateFact(referralId, 'order-a');
    await intakeLateFact(referralId, 'order-b');
    await workflowLateFact(referralId, 3, 'order-b');

    expect((await timeline(referralId)).slice(2)).toEqual([
      { seq: 3, kind: 'late_fact', eventId: 'order-b' },
      { seq: 4, kind: 'late_fact', eventId: 'order-a' },
    ]);
    const [entry] = (await findTimeline(db, referralId)).filter((row) => row.seq === 3);
    expect(entry!.at).toEqual(new Date(Date.parse(ENDED_AT) + 3000));
  });

  it('given the workflow wrote a seq, when it writes that seq again (a re-run task), then its second write stands and the intake’s entry is untouched', async () => {
    const referralId = await endedReferral();
    await workflowLateFact(referralId, 3, 'order-b');
    await intakeLateFact(referralId, 'order-a');
    await workflowLateFact(referralId, 3, 'order-c');

    expect((await timeline(referralId)).slice(2)).toEqual([
      { seq: 3, kind: 'late_fact', eventId: 'order-c' },
      { seq: 4, kind: 'late_fact', eventId: 'order-a' },
    ]);
  });

  it('given the intake and the workflow appending late facts at the same time, when all are written, then each fact is on the timeline exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      const referralId = await endedReferral();
      const intake = ['i-1', 'i-2', 'i-3', 'i-4'];
      const workflow = ['w-1', 'w-2', 'w-3', 'w-4'];
      await Promise.all([
        ...intake.map((eventId) => intakeLateFact(referralId, eventId)),
        (async () => {
          for (const [i, eventId] of workflow.entries()) await workflowLateFact(referralId, 3 + i, eventId);
        })(),
      ]);
      const entries = await timeline(referralId);
      const shown = entries.slice(2).map((entry) => entry.eventId ?? '');
      expect(shown.toSorted((a, b) => a.localeCompare(b))).toEqual(
        [...intake, ...workflow].toSorted((a, b) => a.localeCompare(b)),
      );
      // the workflow's entries keep the seqs it gave them
      expect(entries.filter((entry) => entry.eventId?.startsWith('w-')).map((entry) => entry.seq)).toEqual([
        3, 4, 5, 6,
      ]);
    }
  });
});
