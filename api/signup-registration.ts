import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { normaliseEmail, normalisePhone } from '../db/contact';
import { findCustomer, upsertCustomer } from '../db/customers';
import { acceptEvent, findInboxEvent, markEvent, payloadHash, recordDeliveryFailure } from '../db/inbox';
import { currentProgramSnapshot } from '../db/programs';
import { findReferralCode } from '../db/referral-codes';
import { findPendingClaimFor } from '../db/referrals';
import type { InboxEvent } from '../db/schema';
import { registerUpdate } from '../workflows/messages';
import { ProgramIdKey, ReferralCodeKey, ReferrerIdKey } from '../workflows/search-attributes';
import { referralWorkflowId, type ReferralInput, type ReferralSnapshot, type SignupFacts } from '../workflows/shared';
import { workflowCallDeadline, type AppDependencies } from './deps';
import { uuidFromKey } from './ids';
import { Problem, type ProblemCode } from './problems';
import { loadReferralView } from './referral-lookup';
import { isWorkflowGone, refusalProblem } from './temporal-errors';

export interface SignupEvent {
  eventId: string;
  customerId: string;
  code?: string | undefined;
  referralId?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
  occurredAt: string;
  context?: { ip?: string | undefined; deviceId?: string | undefined } | undefined;
}

export type SignupAnswer = { status: 200 | 201; body: Record<string, unknown> };

/** Where a signup lands: a pending claim it completes, or a new referral it creates. */
type Target =
  | { kind: 'pending'; referralId: string; referrerId: string }
  | { kind: 'new'; referralId: string; input: ReferralInput };

/** A referral a signup creates is named after the signup's event id, so every retry reaches the same one. */
const signupReferralId = (eventId: string): string => uuidFromKey('signup', eventId);

/**
 * A signup event, end to end. A replayed eventId is answered from the inbox before anything else is looked at;
 * rule violations are refused before anything is written; an accepted signup is kept in the inbox, with the referral
 * it resolved to, before it is delivered, so a crash mid-way is finished later against that same referral.
 */
export async function handleSignup(
  deps: AppDependencies,
  signup: SignupEvent,
  /** the body as sent: a replay is recognised by it, before defaults such as occurredAt were filled in */
  sent: unknown,
): Promise<SignupAnswer> {
  const fingerprint = payloadHash(sent);
  const seen = await findInboxEvent(deps.db, 'signup', signup.eventId);
  if (seen) return answerReplay(deps, seen, fingerprint);

  const payload = JSON.parse(JSON.stringify(signup)) as Record<string, unknown>;
  if (!signup.code && !signup.referralId) {
    const acceptance = await acceptEvent(deps.db, { kind: 'signup', eventId: signup.eventId, customerId: signup.customerId, payload, fingerprint: sent });
    if (!acceptance.accepted) return answerReplay(deps, acceptance.existing, fingerprint);
    return recordPlainSignup(deps, signup);
  }

  const target = await resolveTarget(deps, signup);
  await refuseIfRulesBroken(deps, signup, target);
  const acceptance = await acceptEvent(deps.db, {
    kind: 'signup',
    eventId: signup.eventId,
    customerId: signup.customerId,
    payload,
    fingerprint: sent,
    referralId: target.referralId,
  });
  if (!acceptance.accepted) return answerReplay(deps, acceptance.existing, fingerprint);
  return deliverSignup(deps, signup, target);
}

/** Finishes an accepted signup that was not delivered yet; the relay calls this. */
export async function resumeSignup(deps: AppDependencies, event: InboxEvent): Promise<SignupAnswer> {
  const signup = event.payload as unknown as SignupEvent;
  if (!event.referral_id) return recordPlainSignup(deps, signup);
  let target: Target = { kind: 'pending', referralId: event.referral_id, referrerId: '' };
  // A referral this signup creates is resolved again only if its workflow was never started: once it runs, the
  // signup goes to it whatever happened to the code or the programme since.
  if (event.referral_id === signupReferralId(signup.eventId) && !(await workflowExists(deps, event.referral_id))) {
    try {
      target = await newReferralTarget(deps, signup);
    } catch (error) {
      // The code or programme went away since the signup was accepted: a final answer, not one to retry.
      if (error instanceof Problem) await keepRefusal(deps, signup.eventId, error);
      throw error;
    }
  }
  return deliverSignup(deps, signup, target);
}

async function workflowExists(deps: AppDependencies, referralId: string): Promise<boolean> {
  try {
    await deps.temporal.withDeadline(workflowCallDeadline(deps), () =>
      deps.temporal.workflow.getHandle(referralWorkflowId(referralId)).describe(),
    );
    return true;
  } catch (error) {
    if (isWorkflowGone(error)) return false;
    throw error;
  }
}

async function keepRefusal(deps: AppDependencies, eventId: string, refusal: Problem): Promise<void> {
  // Kept as refused, so a replay of this event gets the same answer and the relay stops retrying it.
  await markEvent(deps.db, 'signup', eventId, { state: 'ignored', response: { problem: refusal.body() }, note: refusal.detail });
}

async function answerReplay(deps: AppDependencies, seen: InboxEvent, fingerprint: string): Promise<SignupAnswer> {
  if (seen.payload_hash !== fingerprint) {
    throw new Problem(409, 'idempotency_conflict', `eventId ${seen.event_id} was already used for a different signup`);
  }
  if (seen.state === 'delivered' && seen.response) return { status: 200, body: { ...seen.response, duplicate: true } };
  const refused = seen.response?.problem as { status: 404 | 409 | 422; code: ProblemCode; detail: string } | undefined;
  if (seen.state === 'ignored' && refused) throw new Problem(refused.status, refused.code, refused.detail);
  // Accepted earlier but not delivered (that attempt failed mid-way): finish it now, against the same referral.
  const answer = await resumeSignup(deps, seen);
  return { status: 200, body: { ...answer.body, duplicate: true } };
}

async function recordPlainSignup(deps: AppDependencies, signup: SignupEvent): Promise<SignupAnswer> {
  // Kept for the rules: a later referee with this customer's e-mail or phone is a self-referral.
  await upsertCustomer(deps.db, { id: signup.customerId, email: signup.email, phone: signup.phone });
  const body = { referred: false, customerId: signup.customerId };
  await markEvent(deps.db, 'signup', signup.eventId, { state: 'delivered', response: body });
  return { status: 200, body: { ...body, duplicate: false } };
}

async function deliverSignup(deps: AppDependencies, signup: SignupEvent, target: Target): Promise<SignupAnswer> {
  const facts: SignupFacts = {
    eventId: signup.eventId,
    refereeId: signup.customerId,
    email: signup.email,
    phone: signup.phone,
    occurredAt: signup.occurredAt,
    context: signup.context,
  };
  let snapshot: ReferralSnapshot;
  try {
    snapshot = await deps.temporal.withDeadline(workflowCallDeadline(deps), async () => {
      if (target.kind === 'new') await startSignupReferral(deps, target);
      return deps.temporal.workflow
        .getHandle(referralWorkflowId(target.referralId))
        .executeUpdate(registerUpdate, { args: [facts] });
    });
  } catch (error) {
    const refusal = refusalProblem(error);
    if (refusal) {
      if (refusal.status !== 503) await keepRefusal(deps, signup.eventId, refusal);
      throw refusal;
    }
    deps.logger.warn({ err: error, eventId: signup.eventId }, 'signup accepted but not yet delivered');
    await recordDeliveryFailure(deps.db, 'signup', signup.eventId, String(error));
    throw new Problem(503, 'temporarily_unavailable', 'the signup is kept and will be applied; retry with the same eventId to read the result');
  }
  const body = signupBody(snapshot);
  await markEvent(deps.db, 'signup', signup.eventId, { state: 'delivered', referralId: snapshot.referralId, response: body });
  return { status: 201, body: { ...body, duplicate: false } };
}

async function startSignupReferral(deps: AppDependencies, target: Extract<Target, { kind: 'new' }>): Promise<void> {
  try {
    await deps.temporal.workflow.start('referralWorkflow', {
      taskQueue: deps.taskQueue,
      workflowId: referralWorkflowId(target.referralId),
      args: [target.input],
      // A retry finds the run its first attempt started; a run that has ended is never started again.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: ReferrerIdKey, value: target.input.referrerId },
        { key: ProgramIdKey, value: target.input.program.id },
        { key: ReferralCodeKey, value: target.input.code },
      ],
    });
  } catch (error) {
    // Ended already: the update below is refused as referral_closed.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

async function resolveTarget(deps: AppDependencies, signup: SignupEvent): Promise<Target> {
  if (signup.referralId) {
    const referral = await loadReferralView(deps, signup.referralId);
    if (!referral) throw new Problem(404, 'not_found', `no referral ${signup.referralId}`);
    if (signup.code && signup.code !== referral.code) {
      throw new Problem(422, 'validation_failed', 'code does not belong to the referral', [
        { path: 'code', message: 'does not match referralId' },
      ]);
    }
    return { kind: 'pending', referralId: referral.id, referrerId: referral.referrerId };
  }
  const claim = await findPendingClaimFor(deps.db, signup.code!, signup);
  if (claim) return { kind: 'pending', referralId: claim.id, referrerId: claim.referrer_id };
  return newReferralTarget(deps, signup);
}

async function newReferralTarget(deps: AppDependencies, signup: SignupEvent): Promise<Extract<Target, { kind: 'new' }>> {
  const code = signup.code ? await findReferralCode(deps.db, signup.code) : undefined;
  if (!code) throw new Problem(422, 'unknown_code', `no referral code ${signup.code}`);
  const program = await currentProgramSnapshot(deps.db, code.program_id);
  if (!program?.active) throw new Problem(409, 'program_inactive', `programme ${code.program_id} is not active`);
  const { active: _active, ...snapshot } = program;
  const referralId = signupReferralId(signup.eventId);
  return {
    kind: 'new',
    referralId,
    input: {
      referralId,
      program: snapshot,
      code: code.code,
      referrerId: code.customer_id,
      createdAt: signup.occurredAt,
      origin: 'signup',
    },
  };
}

/** The same rules the registration activity enforces atomically, checked first so a refusal writes nothing. */
async function refuseIfRulesBroken(deps: AppDependencies, signup: SignupEvent, target: Target): Promise<void> {
  const referrerId = target.kind === 'new' ? target.input.referrerId : target.referrerId;
  if (signup.customerId === referrerId) throw new Problem(422, 'self_referral', 'a customer cannot use their own code');
  const [referee, referrer] = await Promise.all([findCustomer(deps.db, signup.customerId), findCustomer(deps.db, referrerId)]);
  if (referee?.referred_by_referral_id && referee.referred_by_referral_id !== target.referralId) {
    throw new Problem(409, 'already_referred', `customer ${signup.customerId} was already referred`);
  }
  const email = normaliseEmail(signup.email) ?? referee?.email_normalized ?? null;
  const phone = normalisePhone(signup.phone) ?? referee?.phone_normalized ?? null;
  if (referrer && ((email && email === referrer.email_normalized) || (phone && phone === referrer.phone_normalized))) {
    throw new Problem(422, 'self_referral', 'the referee has the referrer’s contact details');
  }
}

const signupBody = (s: ReferralSnapshot): Record<string, unknown> => ({
  referralId: s.referralId,
  status: s.status,
  programId: s.programId,
  programVersion: s.programVersion,
  code: s.code,
  referrerId: s.referrerId,
  refereeId: s.refereeId,
  registeredAt: s.registeredAt,
  deadlines: s.deadlines,
});
