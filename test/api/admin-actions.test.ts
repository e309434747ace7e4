import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import type { NewReferralRow } from '../../db/schema';
import { encodeCursor } from '../../intake/page-cursor';
import { REFUSALS, type ReferralSnapshot, type ReferralStatus } from '../../workflows/shared';
import { appOver } from '../support/app';
import { createTestDatabase } from '../support/database';
import { httpClient, KEYS } from '../support/http';
import { insertReferralRow } from '../support/projection-rows';

/**
 * The admin actions (approve, reject, cancel, extend) and the audit list through the real routes and a real database,
 * with a Temporal client that stands in for the referral's workflow: it records each update it is sent, and answers
 * as the test says (applying the change to the projection and the audit log as the workflow would, or refusing).
 */
let db: DB;
let drop: () => Promise<void>;
let api: ReturnType<typeof httpClient>;
let programId: string;

interface UpdateCall {
  workflowId: string;
  name: string;
  updateId: string | undefined;
  args: unknown[];
}

const calls: UpdateCall[] = [];
/** What the workflow does with the next update: set by each test. */
let workflow: (call: UpdateCall) => Promise<Partial<ReferralSnapshot>> = () => {
  throw new Error('no update expected');
};

const temporal = {
  withDeadline: <T>(_deadline: number, call: () => Promise<T>) => call(),
  workflow: {
    getHandle: (workflowId: string) => ({
      executeUpdate: async (update: { name: string }, options: { updateId?: string; args: unknown[] }) => {
        const call = { workflowId, name: update.name, updateId: options.updateId, args: options.args };
        calls.push(call);
        return workflow(call);
      },
      query: () => Promise.reject(new Error('an admin action answers without querying the workflow')),
    }),
  },
} as unknown as Client;

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  ({ api } = appOver(db, { temporal }));
  programId = (await api.post('/v1/admin/programs', KEYS.admin, { name: 'Admin actions', currency: 'INR' })).body.id;
});
afterAll(() => drop());
beforeEach(() => {
  calls.length = 0;
  workflow = () => {
    throw new Error('no update expected');
  };
});

const ACTIONS = ['approve', 'reject', 'cancel', 'extend'] as const;
type Action = (typeof ACTIONS)[number];

/** A body each action takes. */
const validBody = (action: Action, requestId = randomUUID()): { requestId: string } & Record<string, unknown> =>
  action === 'reject'
    ? { requestId, reason: 'same card as the referrer' }
    : action === 'extend'
      ? { requestId, by: '10s' }
      : { requestId };

const act = (action: Action, referralId: string, body: unknown, key = KEYS.admin) =>
  api.post(`/v1/admin/referrals/${referralId}/${action}`, key, body);

const referralRow = (id: string) =>
  db.selectFrom('referrals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

const requestRows = (referralId: string) =>
  db.selectFrom('admin_requests').selectAll().where('referral_id', '=', referralId).execute();

const auditRows = (referralId: string) =>
  db.selectFrom('admin_audit').selectAll().where('referral_id', '=', referralId).orderBy('id').execute();

const aRegisteredReferral = (row: Partial<NewReferralRow> = {}) =>
  insertReferralRow(db, {
    program_id: programId,
    referee_id: `referee-${randomUUID()}`,
    qualify_by: new Date('2026-12-01T00:00:00Z'),
    ...row,
  });

/**
 * What the workflow does when it applies an action: moves the projection (status, or the deadline for an extend),
 * appends the timeline entry and the audit row, then answers its state.
 */
async function applied(call: UpdateCall): Promise<Partial<ReferralSnapshot>> {
  const referralId = call.workflowId.replace(/^referral-/, '');
  const request = call.args[0] as { requestId: string; actor: string; reason?: string; by?: string; until?: string };
  const before = await referralRow(referralId);
  const status: ReferralStatus =
    call.name === 'approve'
      ? 'registered'
      : call.name === 'reject'
        ? 'rejected'
        : call.name === 'cancel'
          ? 'cancelled'
          : before.status;
  const qualifyBy =
    call.name === 'extend' ? new Date(request.until ?? before.qualify_by!.getTime() + 10_000) : before.qualify_by;
  const seq = before.projection_seq + 1;
  const at = new Date();
  await db
    .updateTable('referrals')
    .set({ status, qualify_by: qualifyBy, projection_seq: seq, updated_at: at })
    .where('id', '=', referralId)
    .execute();
  await db
    .insertInto('referral_timeline')
    .values({
      referral_id: referralId,
      seq,
      at,
      kind: call.name === 'extend' ? 'deadline_extended' : status,
      status,
      detail: JSON.stringify({ actor: request.actor, requestId: request.requestId, reason: request.reason ?? null }),
    })
    .execute();
  const deadlines = (qualify: Date | null) => ({
    expiresAt: null,
    qualifyBy: qualify?.toISOString() ?? null,
    holdUntil: null,
  });
  await db
    .insertInto('admin_audit')
    .values({
      at,
      actor: request.actor,
      action: call.name as 'approve' | 'reject' | 'cancel' | 'extend',
      referral_id: referralId,
      request_id: request.requestId,
      reason: request.reason ?? null,
      before: JSON.stringify({ status: before.status, deadlines: deadlines(before.qualify_by), review: null }),
      after: JSON.stringify({ status, deadlines: deadlines(qualifyBy), review: null }),
    })
    .execute();
  return { referralId, status, deadlines: deadlines(qualifyBy) };
}

const refusedAs = (type: string, message: string) => () =>
  Promise.reject(
    new WorkflowUpdateFailedError(
      'Workflow Update failed',
      ApplicationFailure.create({ type, message, nonRetryable: true }),
    ),
  );

describe('admin actions: what every route refuses before anything is written', () => {
  it('given any action, when a commerce key calls it, then 403 forbidden and nothing is written', async () => {
    const referral = await aRegisteredReferral();
    for (const action of ACTIONS) {
      expect((await act(action, referral.id, validBody(action), KEYS.commerce)).body).toMatchObject({
        status: 403,
        code: 'forbidden',
      });
    }
    expect((await api.get('/v1/admin/audit', KEYS.commerce)).body).toMatchObject({ status: 403, code: 'forbidden' });
    expect({ calls, requests: await requestRows(referral.id) }).toEqual({ calls: [], requests: [] });
  });

  it('given any action, when its body has no requestId, a field it does not take, or none at all, then 400 validation_failed and nothing is written', async () => {
    const referral = await aRegisteredReferral();
    for (const action of ACTIONS) {
      const { requestId: _requestId, ...withoutId } = validBody(action);
      const missing = await act(action, referral.id, withoutId);
      expect({ action, status: missing.status, code: missing.body.code }).toEqual({
        action,
        status: 400,
        code: 'validation_failed',
      });
      expect(missing.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'requestId' })]));
      expect((await act(action, referral.id, { ...validBody(action), points: 5 })).status).toBe(400);
      expect((await act(action, referral.id, undefined)).status).toBe(400);
      expect((await act(action, referral.id, { ...validBody(action), requestId: '' })).status).toBe(400);
    }
    expect({ calls, requests: await requestRows(referral.id) }).toEqual({ calls: [], requests: [] });
  });

  it('given a reject without a reason or with an empty one, when it is sent, then 400 validation_failed naming reason', async () => {
    const referral = await aRegisteredReferral();
    for (const body of [{ requestId: randomUUID() }, { requestId: randomUUID(), reason: '' }]) {
      const refused = await act('reject', referral.id, body);
      expect(refused).toMatchObject({ status: 400, body: { code: 'validation_failed' } });
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual(['reason']);
    }
    expect({ calls, requests: await requestRows(referral.id) }).toEqual({ calls: [], requests: [] });
  });

  it('given an extend with both by and until, with neither, with a duration that is not one or an instant that is not one, when it is sent, then 400 validation_failed', async () => {
    const referral = await aRegisteredReferral();
    const bodies = [
      { by: '10s', until: '2026-12-02T00:00:00Z' },
      {},
      { reason: 'more time' },
      { by: 'a while' },
      { by: '0s' },
      { by: '-5s' },
      { by: '3651 days' },
      { by: 10 },
      { until: 'next week' },
      { until: '2026-02-30T00:00:00Z' },
    ];
    for (const body of bodies) {
      const refused = await act('extend', referral.id, { requestId: randomUUID(), ...body });
      expect({ body, status: refused.status, code: refused.body.code }).toEqual({
        body,
        status: 400,
        code: 'validation_failed',
      });
    }
    expect({ calls, requests: await requestRows(referral.id) }).toEqual({ calls: [], requests: [] });
  });

  it('given an extend to an instant more than 3650 days ahead, when it is sent, then 422 validation_failed and nothing is written', async () => {
    const referral = await aRegisteredReferral();
    const refused = await act('extend', referral.id, { requestId: randomUUID(), until: '9999-01-01T00:00:00Z' });
    expect(refused).toMatchObject({ status: 422, body: { code: 'validation_failed', errors: [{ path: 'until' }] } });
    expect({ calls, requests: await requestRows(referral.id) }).toEqual({ calls: [], requests: [] });
  });

  it('given a referral id nobody created, or one that is not a uuid, when any action is sent, then 404 not_found or 400, and nothing is written', async () => {
    for (const action of ACTIONS) {
      const unknown = randomUUID();
      expect(await act(action, unknown, validBody(action))).toMatchObject({ status: 404, body: { code: 'not_found' } });
      expect(await requestRows(unknown)).toEqual([]);
      expect((await act(action, 'not-a-uuid', validBody(action))).status).toBe(400);
    }
    expect(calls).toEqual([]);
  });
});

describe('admin actions: applied once per requestId', () => {
  it('given a referral under review, when an admin approves it, then the workflow gets the approve under the update id approve:<requestId> and the answer is the admin view of the referral', async () => {
    const referral = await aRegisteredReferral({ status: 'under_review' as ReferralStatus });
    workflow = applied;
    const requestId = randomUUID();
    const approved = await act('approve', referral.id, { requestId, reason: 'checked by phone' });
    expect(approved.status).toBe(200);
    expect(calls).toEqual([
      {
        workflowId: `referral-${referral.id}`,
        name: 'approve',
        updateId: `approve:${requestId}`,
        args: [{ requestId, actor: 'ops', reason: 'checked by phone' }],
      },
    ]);
    const read = (await api.get(`/v1/referrals/${referral.id}`, KEYS.admin)).body;
    expect(approved.body).toEqual({
      ...read,
      live: { referralId: referral.id, status: 'registered', deadlines: expect.any(Object) },
      timeline: [expect.objectContaining({ kind: 'registered', detail: expect.objectContaining({ requestId }) })],
      duplicate: false,
    });
    expect(approved.body.status).toBe('registered');
  });

  it('given an action answered once, when the same requestId comes again with the same body, then 200 with the same outcome and duplicate: true, and the workflow is not asked again', async () => {
    for (const action of ACTIONS) {
      const referral = await aRegisteredReferral({
        status: (action === 'approve' ? 'under_review' : 'registered') as ReferralStatus,
      });
      workflow = applied;
      const body = validBody(action);
      const first = await act(action, referral.id, body);
      expect({ action, status: first.status, duplicate: first.body.duplicate }).toEqual({
        action,
        status: 200,
        duplicate: false,
      });
      // keys in another order are the same body
      const again = await act(action, referral.id, Object.fromEntries(Object.entries(body).reverse()));
      expect({ action, again }).toMatchObject({
        action,
        again: { status: 200, body: { ...first.body, duplicate: true } },
      });
      expect({ action, calls: calls.length, audit: (await auditRows(referral.id)).length }).toEqual({
        action,
        calls: 1,
        audit: 1,
      });
      calls.length = 0;
    }
  });

  it('given a requestId already used, when it comes with another reason, on another action or on another referral, then 409 idempotency_conflict and nothing changes', async () => {
    const referral = await aRegisteredReferral();
    const other = await aRegisteredReferral();
    workflow = applied;
    const requestId = randomUUID();
    expect((await act('extend', referral.id, { requestId, by: '10s', reason: 'shop closed' })).status).toBe(200);
    const after = await referralRow(referral.id);
    for (const [action, id, body] of [
      ['extend', referral.id, { requestId, by: '10s', reason: 'another reason' }],
      ['extend', referral.id, { requestId, by: '20s', reason: 'shop closed' }],
      ['extend', referral.id, { requestId, until: '2026-12-02T00:00:00Z', reason: 'shop closed' }],
      ['cancel', referral.id, { requestId, reason: 'shop closed' }],
      ['extend', other.id, { requestId, by: '10s', reason: 'shop closed' }],
    ] as const) {
      expect({ action, id, refused: await act(action, id, body) }).toMatchObject({
        action,
        id,
        refused: { status: 409, body: { code: 'idempotency_conflict' } },
      });
    }
    expect(calls).toHaveLength(1);
    expect(await referralRow(referral.id)).toEqual(after);
    expect(await requestRows(other.id)).toEqual([]);
  });

  it('given an extend to an instant, when it is repeated with the same instant written with an offset, then it is the same request', async () => {
    const referral = await aRegisteredReferral();
    workflow = applied;
    const requestId = randomUUID();
    const first = await act('extend', referral.id, { requestId, until: '2026-12-24T12:00:00Z' });
    expect(first.status).toBe(200);
    expect(calls[0]!.args).toEqual([{ requestId, actor: 'ops', until: '2026-12-24T12:00:00.000Z' }]);
    expect(first.body.deadlines.qualifyBy).toBe('2026-12-24T12:00:00.000Z');
    const again = await act('extend', referral.id, { requestId, until: '2026-12-24T17:30:00+05:30' });
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(calls).toHaveLength(1);
  });

  it('given the same request sent twice at once, when both reach the workflow, then both use one update id and one answer is kept', async () => {
    const referral = await aRegisteredReferral();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let applying: Promise<Partial<ReferralSnapshot>> | undefined;
    // Temporal runs an update id once: the second call waits for the first's outcome.
    workflow = async (call) => {
      applying ??= held.then(() => applied(call));
      return applying;
    };
    const body = validBody('extend');
    const both = Promise.all([act('extend', referral.id, body), act('extend', referral.id, body)]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    const answers = await both;
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.map((a) => a.body.duplicate)).toEqual(expect.arrayContaining([false, true]));
    expect(new Set(calls.map((c) => c.updateId))).toEqual(new Set([`extend:${body.requestId}`]));
    expect(await auditRows(referral.id)).toHaveLength(1);
    expect(await requestRows(referral.id)).toEqual([expect.objectContaining({ response: expect.any(Object) })]);
  });

  it('given an action whose first attempt got no answer from Temporal, when the same request comes again, then the workflow is asked again under the same update id and the answer is duplicate: true', async () => {
    const referral = await aRegisteredReferral();
    const unavailable = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'No connection established',
      metadata: {},
    });
    workflow = () => Promise.reject(unavailable);
    const body = validBody('reject');
    expect(await act('reject', referral.id, body)).toMatchObject({
      status: 503,
      body: { code: 'temporarily_unavailable' },
    });
    expect(await requestRows(referral.id)).toEqual([expect.objectContaining({ response: null })]);
    workflow = applied;
    const again = await act('reject', referral.id, body);
    expect(again).toMatchObject({ status: 200, body: { status: 'rejected', duplicate: true } });
    expect(calls.map((c) => c.updateId)).toEqual([`reject:${body.requestId}`, `reject:${body.requestId}`]);
  });

  it('given a cancel, when it is applied, then the workflow gets the requestId in its CancelRequest and the answer is the admin view', async () => {
    const referral = await aRegisteredReferral();
    workflow = applied;
    const requestId = randomUUID();
    const cancelled = await act('cancel', referral.id, { requestId, reason: 'test account' });
    expect(cancelled).toMatchObject({
      status: 200,
      body: { id: referral.id, status: 'cancelled', live: { status: 'cancelled' }, timeline: [{ kind: 'cancelled' }] },
    });
    expect(calls).toEqual([
      expect.objectContaining({
        name: 'cancel',
        updateId: `cancel:${requestId}`,
        args: [{ requestId, actor: 'ops', reason: 'test account' }],
      }),
    ]);
  });
});

describe('admin actions: a state the action does not apply to', () => {
  it('given a referral the workflow refuses the action for, when it is sent, then 409 invalid_transition, nothing changes, and the same request again gets the same refusal without asking again', async () => {
    for (const action of ['approve', 'reject', 'extend'] as const) {
      const referral = await aRegisteredReferral();
      const before = await referralRow(referral.id);
      workflow = refusedAs(REFUSALS.invalidTransition, `referral ${referral.id} is registered, not under review`);
      const body = validBody(action);
      const refused = await act(action, referral.id, body);
      expect({ action, refused }).toMatchObject({
        action,
        refused: {
          status: 409,
          contentType: 'application/problem+json',
          body: { code: 'invalid_transition', detail: expect.stringContaining('not under review') },
        },
      });
      expect(await referralRow(referral.id)).toEqual(before);
      expect(await auditRows(referral.id)).toEqual([]);
      expect(await act(action, referral.id, body)).toMatchObject({ status: 409, body: { code: 'invalid_transition' } });
      expect(calls).toHaveLength(1);
      calls.length = 0;
    }
  });

  it('given a referral whose workflow has finished, when an action is sent, then 409 without asking Temporal: invalid_transition, and referral_closed for a cancel as before', async () => {
    const closed = new Date('2026-01-10T00:00:00Z');
    const referral = await aRegisteredReferral({
      status: 'expired',
      ended_at: closed,
      closed_at: closed,
      end_reason: 'qualification_window_closed',
    });
    for (const action of ACTIONS) {
      expect({ action, refused: await act(action, referral.id, validBody(action)) }).toMatchObject({
        action,
        refused: { status: 409, body: { code: action === 'cancel' ? 'referral_closed' : 'invalid_transition' } },
      });
    }
    expect(calls).toEqual([]);
  });

  it('given a workflow that is gone, when an action is sent, then 409 invalid_transition; when the audit log shows an earlier attempt of this request applied it, then 200 with the referral', async () => {
    const referral = await aRegisteredReferral();
    workflow = () =>
      Promise.reject(new WorkflowNotFoundError('workflow not found', `referral-${referral.id}`, undefined));
    expect(await act('approve', referral.id, validBody('approve'))).toMatchObject({
      status: 409,
      body: { code: 'invalid_transition' },
    });

    // The reject was applied and ended the workflow, but its answer was never kept (the API process died).
    const requestId = randomUUID();
    await applied({
      workflowId: `referral-${referral.id}`,
      name: 'reject',
      updateId: `reject:${requestId}`,
      args: [{ requestId, actor: 'ops', reason: 'fraud ring' }],
    });
    const answered = await act('reject', referral.id, { requestId, reason: 'fraud ring' });
    expect(answered).toMatchObject({ status: 200, body: { status: 'rejected', live: null, duplicate: false } });
  });

  it('given a cancel the workflow answered with another end, when it is sent, then 409 referral_closed as before', async () => {
    const referral = await aRegisteredReferral();
    workflow = async () => ({ referralId: referral.id, status: 'completed' });
    expect(await act('cancel', referral.id, validBody('cancel'))).toMatchObject({
      status: 409,
      body: { code: 'referral_closed' },
    });
  });
});

describe('GET /v1/admin/audit', () => {
  const entry = (referralId: string, actor: string, at: string, n: number) => ({
    at,
    actor,
    action: (['approve', 'reject', 'cancel', 'extend'] as const)[n % 4]!,
    referral_id: referralId,
    request_id: `audit-${n}`,
    reason: n % 2 ? `reason ${n}` : null,
    before: JSON.stringify({ status: 'registered', n }),
    after: JSON.stringify({ status: 'registered', n: n + 1 }),
  });

  /** Every page of `query`, following nextCursor to the end. */
  async function allPages(query: Record<string, string>, limit: number): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 500; pages++) {
      const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const page = await api.get(`/v1/admin/audit?${params.toString()}`, KEYS.admin);
      expect({ status: page.status, code: page.body.code }).toEqual({ status: 200, code: undefined });
      expect(page.body.items.length).toBeLessThanOrEqual(limit);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
      if (!cursor) return items;
    }
    throw new Error('the audit list did not end');
  }

  it('given actions by two admins on three referrals, some in the same instant, when the log is listed with each filter and paged, then exactly the matching entries come back, newest first, each once', async () => {
    const referrals = [randomUUID(), randomUUID(), randomUUID()];
    const base = Date.UTC(2026, 2, 1);
    const minute = (m: number) => new Date(base + m * 60_000).toISOString();
    // Three entries to an instant, with microseconds a millisecond cannot hold: a page often ends inside a tie.
    const at = (m: number) => `${minute(m).slice(0, 19)}.123456Z`;
    for (let n = 0; n < 45; n++) {
      await db
        .insertInto('admin_audit')
        .values(entry(referrals[n % 3]!, n % 2 ? 'ops' : 'lead', at(Math.floor(n / 3)), n))
        .execute();
    }
    // Every entry in the log (the other tests' too), keyed as the list keys them: to the microsecond, in UTC.
    const newestFirst = (
      await sql<{ id: string; actor: string; referral_id: string; key: string }>`
        select id::text, actor, referral_id::text,
               to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as key
          from admin_audit order by at desc, id desc`.execute(db)
    ).rows;
    const keyText = (instant: string) => new Date(instant).toISOString().replace(/Z$/, '000Z');
    const cases: Array<[Record<string, string>, (r: (typeof newestFirst)[number]) => boolean]> = [
      [{}, () => true],
      [{ referralId: referrals[1]! }, (r) => r.referral_id === referrals[1]],
      [{ actor: 'lead' }, (r) => r.actor === 'lead'],
      // from included, to excluded
      [{ from: minute(4), to: minute(10) }, (r) => r.key >= keyText(minute(4)) && r.key < keyText(minute(10))],
      [{ to: minute(3) }, (r) => r.key < keyText(minute(3))],
      [
        { referralId: referrals[2]!, actor: 'ops', from: minute(2), to: minute(12) },
        (r) =>
          r.referral_id === referrals[2] &&
          r.actor === 'ops' &&
          r.key >= keyText(minute(2)) &&
          r.key < keyText(minute(12)),
      ],
    ];
    for (const [query, matches] of cases) {
      const expected = newestFirst.filter(matches).map((r) => r.id);
      expect({ query, matching: expected.length > 0 }).toEqual({ query, matching: true });
      for (const limit of [1, 4, 200]) {
        const listed = await allPages(query, limit);
        expect({ query, limit, ids: listed.map((item) => item.id) }).toEqual({ query, limit, ids: expected });
      }
    }
    // an entry as the list shows it: the newest on the third referral is the last of minute 14
    const [newest] = await allPages({ referralId: referrals[2]! }, 1);
    expect(newest).toEqual({
      id: expect.any(String),
      at: `${minute(14).slice(0, 19)}.123Z`,
      actor: 'lead',
      action: 'approve',
      referralId: referrals[2],
      requestId: 'audit-44',
      reason: null,
      before: { status: 'registered', n: 44 },
      after: { status: 'registered', n: 45 },
    });
    // without a limit, a page is 50
    const first = await api.get('/v1/admin/audit', KEYS.admin);
    expect(first.body.items.map((item: { id: string }) => item.id)).toEqual(newestFirst.slice(0, 50).map((r) => r.id));
    expect(first.body.nextCursor).toEqual(newestFirst.length > 50 ? expect.any(String) : null);
  });

  it('given a page size, a range or a cursor the list does not take, when it is asked for, then validation_failed naming the field: 400 for what the document refuses, 422 for a range or cursor it allows', async () => {
    const bad: Array<[string, string]> = [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=1e1', 'limit'],
      ['referralId=not-a-uuid', 'referralId'],
      ['from=yesterday', 'from'],
    ];
    // Allowed by the document, refused as rules: 422 (a schema-valid request is never 400).
    const badByRule: Array<[string, string]> = [
      ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
      ['cursor=nonsense', 'cursor'],
      ['cursor=0', 'cursor'],
      [
        `cursor=${encodeCursor({ list: 'referrals', createdAt: '2026-01-01T00:00:00.000000Z', id: randomUUID() })}`,
        'cursor',
      ],
      [
        `cursor=${encodeCursor({ list: 'audit', at: '2026-01-01T00:00:00.000000Z', id: '99999999999999999999' })}`,
        'cursor',
      ],
      [`cursor=${encodeCursor({ list: 'audit', at: '2026-01-01', id: '5' })}`, 'cursor'],
    ];
    for (const [cases, status] of [
      [bad, 400],
      [badByRule, 422],
    ] as const) {
      for (const [query, field] of cases) {
        const refused = await api.get(`/v1/admin/audit?${query}`, KEYS.admin);
        expect({
          query,
          status: refused.status,
          fields: [...new Set(refused.body.errors?.map((e: { path: string }) => e.path))],
        }).toEqual({ query, status, fields: [field] });
      }
    }
  });

  it('given an action the workflow applied and one it refused, when the referral’s audit is listed, then only the applied one is there, with the request id, the reason and the referral before and after', async () => {
    const referral = await aRegisteredReferral();
    workflow = applied;
    const applyId = randomUUID();
    expect((await act('extend', referral.id, { requestId: applyId, by: '10s', reason: 'holiday' })).status).toBe(200);
    workflow = refusedAs(REFUSALS.invalidTransition, 'not under review');
    expect((await act('approve', referral.id, validBody('approve'))).status).toBe(409);
    const listed = await api.get(`/v1/admin/audit?referralId=${referral.id}`, KEYS.admin);
    expect(listed.body).toEqual({
      items: [
        {
          id: expect.any(String),
          at: expect.any(String),
          actor: 'ops',
          action: 'extend',
          referralId: referral.id,
          requestId: applyId,
          reason: 'holiday',
          before: expect.objectContaining({
            deadlines: expect.objectContaining({ qualifyBy: '2026-12-01T00:00:00.000Z' }),
          }),
          after: expect.objectContaining({
            deadlines: expect.objectContaining({ qualifyBy: '2026-12-01T00:00:10.000Z' }),
          }),
        },
      ],
      nextCursor: null,
    });
  });
});
