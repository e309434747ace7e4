import { ApplicationFailure, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { findAuditOfRequest } from '../db/admin-audit';
import { findAdminRequest, recordAdminResponse, reserveAdminRequest } from '../db/admin-requests';
import { payloadHash } from '../db/inbox';
import { findReferral, findTimeline } from '../db/referrals';
import type { AdminRequestRow, TimelineRow } from '../db/schema';
import { durationToMs, MAX_TERM_DURATION, MAX_TERM_DURATION_MS } from '../workflows/durations';
import { approveUpdate, cancelUpdate, extendUpdate, rejectUpdate } from '../workflows/messages';
import { FAULTS, referralWorkflowId, REFUSALS, type ReferralSnapshot, type ReferralStatus } from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { IntakeError, type IntakeRefusalRecord } from './errors';
import type { AdminReferralView } from './referral-admin';
import { readRewards, type ReferralRewards } from './referral-rewards';
import { referralViewFromRow } from './referral-view';
import { callWorkflow, isTemporalUnavailable } from './workflow-failures';

export type AdminAction = 'approve' | 'reject' | 'cancel' | 'extend';

/** One admin action on one referral, by `actor` (the API key's name), once per `requestId`. */
export interface AdminActionRequest {
  action: AdminAction;
  referralId: string;
  requestId: string;
  actor: string;
  reason?: string | undefined;
  /** extend only, exactly one of the two: a duration added to the current deadline, or the new deadline itself */
  by?: string | undefined;
  until?: string | undefined;
}

/** The referral after the action, as GET /v1/admin/referrals/{id} shows it. */
export type AdminActionView = AdminReferralView & { rewards: ReferralRewards };

export type AdminActionOutcome = AdminActionView & {
  /** this requestId was seen before with the same body: this is that request's outcome */
  duplicate: boolean;
};

/**
 * Applies an admin action through the referral's workflow, which decides whether it applies, audits it and projects
 * it before it answers. The same requestId again (same action, referral, actor and body) answers what the first one
 * did, refusals included, without asking the workflow again; the id reused for anything else is a conflict.
 */
export async function performAdminAction(
  deps: IntakeDependencies,
  request: AdminActionRequest,
): Promise<AdminActionOutcome> {
  checkRequest(deps, request);
  const bodyHash = fingerprint(request);
  const earlier = await findAdminRequest(deps.db, request.requestId);
  if (earlier) return answerRepeat(deps, request, earlier, bodyHash);
  if (!(await findReferral(deps.db, request.referralId)))
    throw new IntakeError('not_found', `no referral ${request.referralId}`);
  const reserved = await reserveAdminRequest(deps.db, {
    requestId: request.requestId,
    action: request.action,
    referralId: request.referralId,
    bodyHash,
  });
  // Another request with this id got there first: answer as it does.
  if (!reserved.created) return answerRepeat(deps, request, reserved.request, bodyHash);
  return { ...(await apply(deps, request)), duplicate: false };
}

/**
 * What makes two requests under one requestId the same request. The actor counts: another key's request is not this
 * one's repeat, and answering it as one would credit it with an action it did not take. An `until` counts as the
 * instant it names, however it was written.
 */
const fingerprint = (request: AdminActionRequest): string =>
  payloadHash({
    action: request.action,
    referralId: request.referralId,
    actor: request.actor,
    reason: request.reason ?? null,
    by: request.by ?? null,
    until: request.until === undefined ? null : new Date(request.until).toISOString(),
  });

/**
 * The rules the API's schemas check too, for callers that come another way, and the one that depends on now: a new
 * deadline no further ahead than a term may reach, so it stays an instant timers and the projection can hold.
 */
function checkRequest(deps: IntakeDependencies, request: AdminActionRequest): void {
  const invalid = (path: string, message: string) => {
    throw new IntakeError('validation_failed', `${path}: ${message}`, [{ path, message }]);
  };
  if (request.action === 'reject' && !request.reason) invalid('reason', 'a rejection needs a reason');
  if (request.action !== 'extend') {
    if (request.by !== undefined || request.until !== undefined) invalid('(body)', 'only extend takes by or until');
    return;
  }
  if ((request.by === undefined) === (request.until === undefined))
    invalid('(body)', 'give exactly one of by (a duration) or until (an instant)');
  if (request.by !== undefined && durationToMs(request.by) === undefined)
    invalid('by', `not a duration of at least 1 ms and at most ${MAX_TERM_DURATION}`);
  if (request.until !== undefined) {
    const until = Date.parse(request.until);
    if (Number.isNaN(until)) invalid('until', 'not an instant');
    if (until > deps.clock().getTime() + MAX_TERM_DURATION_MS)
      invalid('until', `must lie at most ${MAX_TERM_DURATION} ahead`);
  }
}

async function answerRepeat(
  deps: IntakeDependencies,
  request: AdminActionRequest,
  earlier: AdminRequestRow,
  bodyHash: string,
): Promise<AdminActionOutcome> {
  if (earlier.body_hash !== bodyHash)
    throw new IntakeError(
      'idempotency_conflict',
      `requestId ${request.requestId} was already used for another request`,
    );
  const kept = earlier.response;
  if (kept && 'refusal' in kept) throw IntakeError.fromRecord(kept.refusal as IntakeRefusalRecord);
  if (kept) return { ...(kept as unknown as AdminActionView), duplicate: true };
  // The first request has not answered: still under way, or it stopped. Its workflow may have applied and projected
  // the action and be held up before it answers (its worker restarting, its tasks retried): the projection says so
  // without waiting on it.
  if (await appliedInProjection(deps, request))
    return { ...(await answerApplied(deps, request, null)), duplicate: true };
  // Not shown yet: the same update id reaches the same update, and the workflow applies an action once per requestId,
  // so asking again finishes it without doing it twice.
  return { ...(await apply(deps, request)), duplicate: true };
}

async function apply(deps: IntakeDependencies, request: AdminActionRequest): Promise<AdminActionView> {
  const row = await findReferral(deps.db, request.referralId);
  if (!row) throw new Error(`referral ${request.referralId} was found and is gone`);
  let live: ReferralSnapshot | null = null;
  try {
    // A finished referral's workflow has nothing to say: the projection says it ended, and nothing changes it after.
    if (row.closed_at) throw ended(request, row.status);
    live = await callWorkflow(deps, () => send(deps, request));
  } catch (error) {
    const refusal = error instanceof IntakeError ? error : refusalOf(request, error);
    if (refusal) {
      // An earlier attempt of this request was applied, and the referral ended or stopped since: it stands.
      if (!(await appliedInProjection(deps, request))) return refuse(deps, request, refusal);
    } else if (!isTemporalUnavailable(error) || !(await appliedInProjection(deps, request))) {
      // Temporal did not answer in time and the projection does not show the action: the caller retries. When it
      // does show it, the workflow applied it and is held up before it answers: that is the outcome.
      throw error;
    }
  }
  // Accepted while the referral was reaching another end (its completion being written): that end stands.
  if (request.action === 'cancel' && live && live.status !== 'cancelled') {
    return refuse(
      deps,
      request,
      new IntakeError('referral_closed', `the referral ended as ${live.status} before the cancel could apply`),
    );
  }
  return answerApplied(deps, request, live);
}

/**
 * The applied action's answer: the referral as the projection has it now. It is kept as this request's answer once
 * the workflow answered (the action and what follows from it projected) or the referral has closed: a failed referral
 * is closed by the write of its end, which holds everything the answer shows (its voucher voided in the same
 * transaction; only the audit row follows). Read while the workflow is held up, the projection may lack what the
 * action goes on to do (an approval's voucher): a repeat reads it again instead of getting that for good.
 */
async function answerApplied(
  deps: IntakeDependencies,
  request: AdminActionRequest,
  live: ReferralSnapshot | null,
): Promise<AdminActionView> {
  const { view, closed } = await readBack(deps, request.referralId, live);
  if (live !== null || closed) await recordAdminResponse(deps.db, request.requestId, { ...view });
  deps.logger.info(
    {
      actor: request.actor,
      referralId: request.referralId,
      action: request.action,
      requestId: request.requestId,
      reason: request.reason,
    },
    'admin action applied',
  );
  return view;
}

/** The timeline entry each action leaves as its workflow applies it, its requestId in the detail. */
const APPLIED_ENTRY: Record<AdminAction, string> = {
  approve: 'review_approved',
  reject: 'rejected',
  cancel: 'cancelled',
  extend: 'deadline_extended',
};

/**
 * Whether the projection shows this request applied: its timeline entry, written as the workflow applied it and
 * before the workflow answers the update, or its audit row. Either is final: the decision is in the workflow's
 * history, and a replay makes it again.
 */
async function appliedInProjection(deps: IntakeDependencies, request: AdminActionRequest): Promise<boolean> {
  const timeline = await findTimeline(deps.db, request.referralId);
  const kind = APPLIED_ENTRY[request.action];
  if (timeline.some((entry) => entry.kind === kind && entry.detail?.requestId === request.requestId)) return true;
  return (await findAuditOfRequest(deps.db, request)) !== undefined;
}

/** Keeps a final refusal under the requestId, so the same request again gets it too, then throws it. */
async function refuse(deps: IntakeDependencies, request: AdminActionRequest, refusal: IntakeError): Promise<never> {
  if (refusal.final) await recordAdminResponse(deps.db, request.requestId, { refusal: refusal.toRecord() });
  throw refusal;
}

function send(deps: IntakeDependencies, request: AdminActionRequest): Promise<ReferralSnapshot> {
  const handle = deps.temporal.workflow.getHandle(referralWorkflowId(request.referralId));
  // A retried call (a timeout, a repeat of an unanswered request) reaches the update the first one started.
  const updateId = `${request.action}:${request.requestId}`;
  const who = {
    requestId: request.requestId,
    actor: request.actor,
    ...(request.reason !== undefined ? { reason: request.reason } : {}),
  };
  switch (request.action) {
    case 'approve':
      return handle.executeUpdate(approveUpdate, { updateId, args: [who] });
    case 'reject':
      return handle.executeUpdate(rejectUpdate, { updateId, args: [{ ...who, reason: request.reason ?? '' }] });
    case 'cancel':
      return handle.executeUpdate(cancelUpdate, { updateId, args: [who] });
    case 'extend':
      return handle.executeUpdate(extendUpdate, {
        updateId,
        args: [
          {
            ...who,
            ...(request.by !== undefined ? { by: request.by } : {}),
            ...(request.until !== undefined ? { until: new Date(request.until).toISOString() } : {}),
          },
        ],
      });
  }
}

/** The referral has ended: a cancel says so as it always has, the other actions as a transition that does not apply. */
const ended = (request: AdminActionRequest, status?: ReferralStatus): IntakeError =>
  new IntakeError(
    request.action === 'cancel' ? 'referral_closed' : 'invalid_transition',
    `referral ${request.referralId} has already ended${status ? ` as ${status}` : ''}`,
  );

/** The workflow's refusal of the action, as an IntakeError; undefined for anything that is not one. */
function refusalOf(request: AdminActionRequest, error: unknown): IntakeError | undefined {
  if (error instanceof WorkflowNotFoundError) return ended(request);
  if (!(error instanceof WorkflowUpdateFailedError) || !(error.cause instanceof ApplicationFailure)) return undefined;
  const { type, message } = error.cause;
  if (type === REFUSALS.invalidTransition) return new IntakeError('invalid_transition', message);
  if (type === REFUSALS.closed) return new IntakeError('referral_closed', message);
  // Stopped by a write no retry can fix (listed among the faults for admins): no action applies to it any more.
  if (type === FAULTS.referralFault)
    return new IntakeError('invalid_transition', `the referral stopped after a fault: ${message}`);
  return undefined;
}

const timelineItem = (t: TimelineRow) => ({
  seq: t.seq,
  at: t.at.toISOString(),
  kind: t.kind,
  status: t.status,
  detail: t.detail,
});

/**
 * The referral as the projection has it now: the workflow answers only once the action is projected. The update's
 * answer is the workflow's own state, the same a query would return, so it is the view's `live` without another call.
 */
async function readBack(
  deps: IntakeDependencies,
  referralId: string,
  live: ReferralSnapshot | null,
): Promise<{ view: AdminActionView; closed: boolean }> {
  const [row, timeline, rewards] = await Promise.all([
    findReferral(deps.db, referralId),
    findTimeline(deps.db, referralId),
    readRewards(deps, referralId),
  ]);
  if (!row) throw new Error(`referral ${referralId} was found and is gone`);
  return {
    view: { ...referralViewFromRow(row), live, timeline: timeline.map(timelineItem), rewards },
    closed: row.closed_at !== null,
  };
}
