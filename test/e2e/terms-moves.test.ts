import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reserveTermsMove } from '../../db/term-moves';
import { referralWorkflowId, TASK_QUEUE } from '../../workflows/shared';
import { termsMoveWorkflow, type TermsMoveInput } from '../../workflows/terms-move-batch';
import { KEYS } from '../support/http';
import { eventually, startStack, type Stack } from '../support/stack';

/**
 * Moving open referrals to new terms end to end: HTTP in, the move's workflow and each referral's workflow on the
 * Temporal dev server, the projection, the timeline and the audit log in real PostgreSQL.
 */
let stack: Stack;
let programId: string;
const MINUTE = 60_000;

beforeAll(async () => {
  stack = await startStack();
  const program = await stack.http.post('/v1/admin/programs', KEYS.admin, {
    name: 'Moves',
    currency: 'INR',
    terms: {
      referralExpiry: '5 minutes',
      qualificationWindow: '2 minutes',
      rewardHold: '1 minute',
      minOrders: 1,
      minSpend: 50_000,
    },
  });
  expect(program.status).toBe(201);
  programId = program.body.id;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function claim(referrer: string, referee: string): Promise<string> {
  const code = (await stack.http.post(`/v1/customers/${referrer}/referral-code`, KEYS.commerce, { programId })).body
    .code;
  const claimed = await stack.http.post('/v1/referrals', KEYS.commerce, {
    code,
    invitee: { email: `${referee}@example.com` },
  });
  expect(claimed.status).toBe(201);
  return claimed.body.id;
}

async function register(referralId: string, referee: string): Promise<void> {
  const signup = await stack.http.post('/v1/events/signups', KEYS.commerce, {
    eventId: randomUUID(),
    customerId: referee,
    referralId,
    email: `${referee}@example.com`,
  });
  expect(signup).toMatchObject({ status: 201, body: { status: 'registered' } });
}

const read = async (referralId: string) => (await stack.http.get(`/v1/admin/referrals/${referralId}`, KEYS.admin)).body;

async function done(moveId: string) {
  return (
    await eventually(
      () => stack.http.get(`/v1/admin/programs/${programId}/moves/${moveId}`, KEYS.admin),
      (r) => r.status === 200 && r.body.state === 'done',
    )
  ).body;
}

const outcomes = async (moveId: string) =>
  (await stack.http.get(`/v1/admin/programs/${programId}/moves/${moveId}/referrals`, KEYS.admin)).body.items as Array<{
    referralId: string;
    outcome: string;
    code: string | null;
    changes: { deadlines: Array<{ deadline: string; from: string; to: string }> } | null;
  }>;

describe('moving open referrals to new terms over HTTP', () => {
  it('given a registered, a pending and a cancelled referral, when an admin dry-runs then moves them to longer windows, then the dry run answers what would change and changes nothing, the move applies the rule to each and audits it, and a repeat is answered', async () => {
    const registered = await claim('mia', 'noa');
    await register(registered, 'noa');
    const pending = await claim('mia', 'oli');
    const cancelled = await claim('mia', 'pia');
    await stack.http.post(`/v1/admin/referrals/${cancelled}/cancel`, KEYS.admin, { requestId: randomUUID() });
    const before = await read(registered);
    const published = await stack.http.post(`/v1/admin/programs/${programId}/versions`, KEYS.admin, {
      terms: {
        referralExpiry: '20 minutes',
        qualificationWindow: '10 minutes',
        rewardHold: '1 minute',
        minOrders: 1,
        minSpend: 50_000,
      },
    });
    expect(published.status).toBe(201);
    const toVersion = published.body.version as number;

    // The dry run: every open referral of the programme, what would change; nothing does.
    const dryRun = await stack.http.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, {
      moveId: randomUUID(),
      toVersion,
      dryRun: true,
    });
    expect(dryRun).toMatchObject({ status: 200, body: { truncated: false } });
    const qualifyBy = new Date(Date.parse(before.registeredAt) + 10 * MINUTE).toISOString();
    const preview = dryRun.body.items as Array<Record<string, unknown>>;
    expect(preview.find((i) => i.referralId === registered)).toMatchObject({
      allowed: true,
      deadlinesBefore: before.deadlines,
      deadlinesAfter: { qualifyBy },
      changes: { deadlines: [{ deadline: 'qualifyBy', from: before.deadlines.qualifyBy, to: qualifyBy }] },
    });
    expect(preview.find((i) => i.referralId === pending)?.allowed).toBe(true);
    expect(preview.some((i) => i.referralId === cancelled)).toBe(false);
    expect((await read(registered)).programVersion).toBe(1);

    // The move, by ids: the open ones move, the ended one and an unknown id are skipped, each with why.
    const unknown = randomUUID();
    const body = {
      moveId: randomUUID(),
      toVersion,
      referralIds: [registered, pending, cancelled, unknown],
      reason: 'spring terms',
      dryRun: false,
    };
    const started = await stack.http.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, body);
    expect(started).toMatchObject({ status: 202, body: { moveId: body.moveId, actor: 'ops', duplicate: false } });
    const finished = await done(body.moveId);
    expect(finished).toMatchObject({ moveId: body.moveId, state: 'done', moved: 2, skipped: 2, failed: 0 });
    const items = await outcomes(body.moveId);
    expect(items.find((i) => i.referralId === cancelled)).toMatchObject({ outcome: 'skipped', code: 'ended' });
    expect(items.find((i) => i.referralId === unknown)).toMatchObject({ outcome: 'skipped', code: 'not_found' });

    const after = await read(registered);
    expect(after).toMatchObject({
      programVersion: toVersion,
      deadlines: { qualifyBy },
      live: { programVersion: toVersion },
    });
    expect(after.timeline.at(-1)).toMatchObject({
      kind: 'terms_moved',
      detail: { fromVersion: 1, toVersion, reason: 'spring terms' },
    });
    const audit = (await stack.http.get(`/v1/admin/audit?referralId=${registered}`, KEYS.admin)).body.items;
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'move',
        actor: 'ops',
        reason: 'spring terms',
        before: expect.objectContaining({ programVersion: 1 }),
        after: expect.objectContaining({
          programVersion: toVersion,
          deadlines: expect.objectContaining({ qualifyBy }),
        }),
      }),
    ]);
    const pendingAfter = await read(pending);
    expect(pendingAfter.deadlines.expiresAt).toBe(
      new Date(Date.parse(pendingAfter.createdAt) + 20 * MINUTE).toISOString(),
    );

    // The same request again is that move; the id under another body is a conflict.
    const again = await stack.http.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, body);
    expect(again).toMatchObject({ status: 202, body: { duplicate: true, moved: 2, skipped: 2 } });
    const reused = await stack.http.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, {
      ...body,
      reason: 'other',
    });
    expect(reused).toMatchObject({ status: 409, body: { code: 'idempotency_conflict' } });
    expect((await read(registered)).timeline.filter((e: { kind: string }) => e.kind === 'terms_moved')).toHaveLength(1);
  });

  it('given a referral whose workflow was stopped (by a fault, or terminated) while the projection still shows it open, when a move is dry-run, then it is not allowed', async () => {
    const stopped = await claim('quin', 'rue');
    await stack.temporal.workflow.getHandle(referralWorkflowId(stopped)).terminate('stands for a fault');
    const published = await stack.http.post(`/v1/admin/programs/${programId}/versions`, KEYS.admin, {
      terms: { referralExpiry: '30 minutes', qualificationWindow: '10 minutes', minOrders: 1, minSpend: 50_000 },
    });
    const dryRun = await stack.http.post(`/v1/admin/programs/${programId}/moves`, KEYS.admin, {
      moveId: randomUUID(),
      toVersion: published.body.version,
      referralIds: [stopped],
      dryRun: true,
    });
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.items).toEqual([
      expect.objectContaining({
        referralId: stopped,
        allowed: false,
        reason: "ended: the referral's workflow is terminated",
      }),
    ]);
  });

  it('refuses what cannot be a move, changing nothing: an unknown version (422), programme (404), a commerce key (403), a malformed body (400)', async () => {
    const move = (path: string, key: string, payload: Record<string, unknown>) =>
      stack.http.post(`/v1/admin/programs/${path}/moves`, key, { moveId: randomUUID(), ...payload });
    expect(await move(programId, KEYS.admin, { toVersion: 99 })).toMatchObject({
      status: 422,
      body: { code: 'validation_failed' },
    });
    expect(await move(programId, KEYS.admin, { toVersion: 99, dryRun: true })).toMatchObject({ status: 422 });
    expect((await move('no-such-programme', KEYS.admin, { toVersion: 1 })).status).toBe(404);
    expect((await move(programId, KEYS.commerce, { toVersion: 1 })).status).toBe(403);
    expect((await move(programId, KEYS.admin, { toVersion: 1, status: 'completed' })).status).toBe(400);
    expect((await move(programId, KEYS.admin, { toVersion: 1, referralIds: [] })).status).toBe(400);
    const twice = randomUUID();
    expect(await move(programId, KEYS.admin, { toVersion: 1, referralIds: [twice, twice] })).toMatchObject({
      status: 422,
    });
    expect((await stack.http.get(`/v1/admin/programs/${programId}/moves/${randomUUID()}`, KEYS.admin)).status).toBe(
      404,
    );
    expect(
      (await stack.http.get(`/v1/admin/programs/${programId}/moves/x/referrals?cursor=abc`, KEYS.admin)).status,
    ).toBe(404);
    expect(await stack.db.selectFrom('term_moves').select('move_id').where('to_version', '=', 99).execute()).toEqual(
      [],
    );
  });
});

describe('a move that outlives its run', () => {
  it('given a move that continues as new after every page of one referral, then it resumes where it was and reaches each referral once', async () => {
    const ids = [await claim('rio', 'sam'), await claim('rio', 'tao'), await claim('rio', 'uma')];
    // the claims run under the newest version: the move takes them back to the first
    const program = (await stack.http.get(`/v1/admin/programs/${programId}`, KEYS.admin)).body;
    const first = program.versions.find((v: { version: number }) => v.version === 1);
    const moveId = randomUUID();
    const selection = { referralIds: ids };
    await reserveTermsMove(stack.db, {
      moveId,
      programId,
      toVersion: 1,
      selection,
      actor: 'ops',
      reason: null,
      bodyHash: 'test',
    });
    const input: TermsMoveInput = {
      moveId,
      program: { id: programId, version: 1, currency: 'INR', terms: first.terms },
      selection,
      actor: 'ops',
      reason: null,
      pageSize: 1,
      historyEventLimit: 1,
    };
    const handle = await stack.temporal.workflow.start(termsMoveWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `terms-move-${moveId}`,
      args: [input],
    });
    expect(await handle.result()).toEqual({ reached: 3 });
    // the first run handed over to the next rather than finishing itself
    const firstRun = await stack.temporal.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe();
    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    // moving back to the first version: each is moved (the windows are the first version's, still ahead)
    expect(await done(moveId)).toMatchObject({ moved: 3, skipped: 0, failed: 0 });
    expect((await outcomes(moveId)).map((i) => i.referralId).sort()).toEqual([...ids].sort());
  });
});
