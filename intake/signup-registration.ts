import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { isStatementRefused, type DB } from '../db/connection';
import { normaliseEmail, normalisePhone } from '../db/contact';
import { countReferralEarly, uncountReferral, withReferrerVelocityLock } from '../db/customer-contexts';
import { findCustomer, releaseReservationOfUnregisteredReferral, upsertCustomer } from '../db/customers';
import { acceptEvent, findInboxEvent, markEvent, payloadHash, recordDeliveryFailure, retargetEvent } from '../db/inbox';
import { currentProgramSnapshot, findProgramTerms } from '../db/programs';
import { findReferralCode } from '../db/referral-codes';
import { findPendingClaimFor, findReferral } from '../db/referrals';
import type { InboxEvent } from '../db/schema';
import { registerUpdate } from '../workflows/messages';
import { ProgramIdKey, ReferralCodeKey, ReferrerIdKey } from '../workflows/search-attributes';
import {
  DEFAULT_REFERRAL_TERMS,
  referralWorkflowId,
  reviewTerms,
  type ReferralInput,
  type ReferralSnapshot,
  type ReferralTerms,
  type SignupFacts,
} from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { IntakeError, isIntakeErrorCode } from './errors';
import { computeFraudFlags, recordCustomerContext, type FraudFlag } from './fraud-flags';
import { uuidFromKey } from './ids';
import { loadReferralView, queryLiveState } from './referral-lookup';
import { callWorkflow, isWorkflowGone, refusalFromWorkflow } from './workflow-failures';

export interface SignupEvent {
  eventId: string;
  customerId: string;
  code?: string | undefined;
  referralId?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
  /** RFC 3339; left out, it is the instant the event was received */
  occurredAt?: string | undefined;
  context?: { ip?: string | undefined; deviceId?: string | undefined } | undefined;
}

/** What a signup became: a registration (201 on first delivery), or a customer who came with no code. */
export interface SignupOutcome {
  registered: boolean;
  duplicate: boolean;
  body: SignupResult;
}

export type SignupResult =
  | { referred: false; customerId: string }
  | {
      referred: true;
      referralId: string;
      status: ReferralSnapshot['status'];
      programId: string;
      programVersion: number;
      code: string;
      referrerId: string;
      refereeId: string | null;
      registeredAt: string | null;
      deadlines: ReferralSnapshot['deadlines'];
    };

/** Where a signup lands, as resolved from its facts: a pending claim it completes, or a new referral it creates. */
type ResolvedTarget =
  | { kind: 'pending'; referralId: string; referrerId: string }
  | { kind: 'new'; referralId: string; input: ReferralInput };

/** Where a signup lands; one the relay resumes knows the pending referral by its id alone. */
type Target = ResolvedTarget | { kind: 'pending'; referralId: string };

/** A referral a signup creates is named after the signup's event id, so every retry reaches the same one. */
const signupReferralId = (eventId: string): string => uuidFromKey('signup', eventId);

/**
 * What makes two deliveries "the same signup": the facts, normalised. The same instant written with another offset,
 * or an e-mail in other capitals, is a replay; a left-out occurredAt stays left out (it defaults to receipt).
 */
export const signupFingerprint = (signup: SignupEvent): string =>
  payloadHash({
    ...signup,
    occurredAt: signup.occurredAt === undefined ? undefined : new Date(signup.occurredAt).toISOString(),
    email: signup.email === undefined ? undefined : normaliseEmail(signup.email),
    phone: signup.phone === undefined ? undefined : normalisePhone(signup.phone),
  });

/**
 * A signup event, end to end. A replayed eventId is answered from the inbox before anything else is looked at;
 * rule violations are refused before anything is written; an accepted signup is kept in the inbox, with the referral
 * it resolved to, before it is delivered, so a crash mid-way is finished later against that same referral.
 */
export async function handleSignup(deps: IntakeDependencies, sent: SignupEvent): Promise<SignupOutcome> {
  const fingerprint = signupFingerprint(sent);
  // Events kept before replays were compared by their normalised facts carry the hash of the body as sent.
  const sameEvent = (seen: InboxEvent) => seen.payload_hash === fingerprint || seen.payload_hash === payloadHash(sent);
  const seen = await findInboxEvent(deps.db, 'signup', sent.eventId);
  if (seen) return answerReplay(deps, seen, sameEvent(seen));

  const signup: SignupEvent & { occurredAt: string } = {
    ...sent,
    occurredAt: new Date(sent.occurredAt ?? deps.clock()).toISOString(),
  };
  const payload = JSON.parse(JSON.stringify(signup)) as Record<string, unknown>;
  const accept = (referralId: string | null) =>
    acceptEvent(deps.db, {
      kind: 'signup',
      eventId: signup.eventId,
      customerId: signup.customerId,
      payload,
      hash: fingerprint,
      referralId,
    });

  if (!signup.code && !signup.referralId) {
    const acceptance = await accept(null);
    if (!acceptance.accepted) return answerReplay(deps, acceptance.existing, sameEvent(acceptance.existing));
    return recordPlainSignup(deps, signup);
  }

  let target: ResolvedTarget;
  try {
    target = await resolveTarget(deps, signup);
    await refuseIfRulesBroken(deps, signup, target);
  } catch (error) {
    if (!(error instanceof IntakeError && error.final)) throw error;
    // Refused before anything else was written: the event is kept as refused, so a replay gets the same answer (even
    // after the programme or the referral changed) and another signup under this eventId is a conflict.
    const kept = await acceptEvent(deps.db, {
      kind: 'signup',
      eventId: signup.eventId,
      customerId: signup.customerId,
      payload,
      hash: fingerprint,
      referralId: null,
      refused: { response: { refusal: error.toRecord() }, note: error.detail },
    });
    if (!kept.accepted) return answerReplay(deps, kept.existing, sameEvent(kept.existing));
    throw error;
  }
  const acceptance = await accept(target.referralId);
  if (!acceptance.accepted) return answerReplay(deps, acceptance.existing, sameEvent(acceptance.existing));
  return deliverSignup(deps, signup, target);
}

/** Finishes an accepted signup that was not delivered yet; the relay calls this. */
export async function resumeSignup(deps: IntakeDependencies, event: InboxEvent): Promise<SignupOutcome> {
  const signup = event.payload as unknown as SignupEvent & { occurredAt: string };
  if (!event.referral_id) return recordPlainSignup(deps, signup);
  let target: Target = { kind: 'pending', referralId: event.referral_id };
  // A referral this signup creates is resolved again only if its workflow was never started: once it runs, the
  // signup goes to it whatever happened to the code or the programme since.
  if (event.referral_id === signupReferralId(signup.eventId) && !(await workflowExists(deps, event.referral_id))) {
    // The code or programme may have gone away since the signup was accepted: a final answer, not one to retry.
    target = await keepingRefusals(deps, signup.eventId, async () =>
      newReferralTarget(deps, { ...signup, code: signup.code ?? (await lapsedClaimCode(deps, signup)) }),
    );
  }
  return deliverSignup(deps, signup, target);
}

/**
 * The code of the claim a signup named, for a signup that names only the claim and was moved to a referral of its own
 * when the claim lapsed: a delivery that stopped after the move and before that referral started resumes under it.
 */
async function lapsedClaimCode(deps: IntakeDependencies, signup: SignupEvent): Promise<string | undefined> {
  if (!signup.referralId) return undefined;
  return (await findReferral(deps.db, signup.referralId))?.code;
}

async function workflowExists(deps: IntakeDependencies, referralId: string): Promise<boolean> {
  try {
    await callWorkflow(deps, () => deps.temporal.workflow.getHandle(referralWorkflowId(referralId)).describe());
    return true;
  } catch (error) {
    if (isWorkflowGone(error)) return false;
    throw error;
  }
}

async function keepRefusal(deps: IntakeDependencies, eventId: string, refusal: IntakeError): Promise<void> {
  // The referral a signup by code would have made registered no one: it is no referral of its referrer's pace.
  // First: once the refusal is kept, a replay is answered from it and would never come back here.
  await uncountReferral(deps.db, signupReferralId(eventId));
  // Kept as refused, so a replay of this event gets the same answer and the relay stops retrying it.
  await markEvent(deps.db, 'signup', eventId, {
    state: 'ignored',
    response: { refusal: refusal.toRecord() },
    note: refusal.detail,
  });
}

/** The refusal kept on an event; older rows kept it as a problem body with the same code and detail. */
function keptRefusal(response: Record<string, unknown> | null): IntakeError | undefined {
  const kept = (response?.refusal ?? response?.problem) as { code?: unknown; detail?: unknown } | undefined;
  if (!kept || !isIntakeErrorCode(kept.code)) return undefined;
  return new IntakeError(kept.code, typeof kept.detail === 'string' ? kept.detail : '');
}

async function answerReplay(deps: IntakeDependencies, seen: InboxEvent, sameEvent: boolean): Promise<SignupOutcome> {
  if (!sameEvent) {
    throw new IntakeError('idempotency_conflict', `eventId ${seen.event_id} was already used for a different signup`);
  }
  if (seen.state === 'delivered' && seen.response) {
    return { registered: false, duplicate: true, body: seen.response as unknown as SignupResult };
  }
  const refused = keptRefusal(seen.response);
  if (seen.state === 'ignored' && refused) throw refused;
  // Accepted earlier but not delivered (that attempt failed mid-way): finish it now, against the same referral.
  const outcome = await resumeSignup(deps, seen);
  return { ...outcome, registered: false, duplicate: true };
}

async function recordPlainSignup(deps: IntakeDependencies, signup: SignupEvent): Promise<SignupOutcome> {
  // Kept for the rules: a later referee with this customer's e-mail or phone is a self-referral, one from their IP or
  // device is flagged when this customer refers them.
  await upsertCustomer(deps.db, { id: signup.customerId, email: signup.email, phone: signup.phone });
  await recordCustomerContext(deps.db, signup.customerId, signup.context, deps.clock());
  const body: SignupResult = { referred: false, customerId: signup.customerId };
  await markEvent(deps.db, 'signup', signup.eventId, { state: 'delivered', response: body });
  return { registered: false, duplicate: false, body };
}

async function deliverSignup(
  deps: IntakeDependencies,
  signup: SignupEvent & { occurredAt: string },
  target: Target,
): Promise<SignupOutcome> {
  let referral: JudgedReferral | undefined;
  try {
    referral = await judgedReferral(deps, target);
  } catch (error) {
    // Its workflow could not be asked (Temporal or the workers are down, a task failing until a worker takes it), or
    // PostgreSQL not reached: nothing is judged against no referrer, and the relay delivers it later.
    if (!isStatementRefused(error)) return deliveryDelayed(deps, signup, error);
    // A statement PostgreSQL refused is ours: a 500, not a 503 that says waiting helps. The event stays accepted all
    // the same, with the failure on it for the relay and the admin.
    await recordDeliveryFailure(deps.db, 'signup', signup.eventId, String(error)).catch((failure: unknown) =>
      deps.logger.warn(
        { err: failure, eventId: signup.eventId },
        'the delivery failure could not be kept on the event',
      ),
    );
    throw error;
  }
  const facts: SignupFacts | undefined = referral && {
    eventId: signup.eventId,
    refereeId: signup.customerId,
    email: signup.email,
    phone: signup.phone,
    occurredAt: signup.occurredAt,
    context: signup.context,
    flags: await signupFlags(deps, signup, target, referral),
  };
  let snapshot: ReferralSnapshot;
  try {
    // No projection row and no workflow: the referral is gone, as registering at it would find.
    if (!facts) throw new IntakeError('referral_closed', `referral ${target.referralId} has ended`);
    snapshot = await registerAt(deps, target, facts);
  } catch (error) {
    const refusal = error instanceof IntakeError ? error : refusalFromWorkflow(error);
    const lapsedClaim =
      refusal && target.kind === 'pending' && closesTheClaim(refusal)
        ? await lapsedClaimFor(deps, target.referralId, signup)
        : undefined;
    if (lapsedClaim === 'undecided') return deliveryDelayed(deps, signup, error);
    if (lapsedClaim) {
      const fresh = await keepingRefusals(deps, signup.eventId, async () => {
        const resolved = await newReferralTarget(deps, { ...signup, code: signup.code ?? lapsedClaim.code });
        await refuseIfRulesBroken(deps, signup, resolved);
        return resolved;
      });
      await retargetEvent(deps.db, 'signup', signup.eventId, fresh.referralId);
      return deliverSignup(deps, signup, fresh);
    }
    if (refusal) {
      if (refusal.final) await keepRefusal(deps, signup.eventId, refusal);
      throw refusal;
    }
    return deliveryDelayed(deps, signup, error);
  }
  const body = signupResult(snapshot);
  await markEvent(deps.db, 'signup', signup.eventId, {
    state: 'delivered',
    referralId: snapshot.referralId,
    response: body,
  });
  return { registered: true, duplicate: false, body };
}

/**
 * The fraud flags of this signup against its referrer (the workflow adds the claim's), under the review terms of the
 * programme version the referral runs (a new referral's, or the pending one's as the projection keeps it). A signup
 * by code makes its referral: judged and counted toward the referrer's pace under the referrer's velocity lock, as a
 * claim is (a pending referral was counted by its claim). The referee's IP and device are kept afterwards, so they
 * count when this customer refers others.
 */
async function signupFlags(
  deps: IntakeDependencies,
  signup: SignupEvent & { occurredAt: string },
  target: Target,
  referral: JudgedReferral,
): Promise<FraudFlag[]> {
  const at = referral.createdAt ?? new Date(signup.occurredAt);
  const judge = (db: DB) =>
    computeFraudFlags(db, {
      referrerId: referral.referrerId,
      referralId: target.referralId,
      referee: {
        customerId: signup.customerId,
        email: signup.email,
        phone: signup.phone,
        ip: signup.context?.ip,
        deviceId: signup.context?.deviceId,
      },
      at,
      review: reviewTerms(referral.terms ?? DEFAULT_REFERRAL_TERMS),
    });
  const flags =
    target.kind === 'new'
      ? await withReferrerVelocityLock(deps.db, referral.referrerId, async (trx) => {
          const judged = await judge(trx);
          await countReferralEarly(trx, {
            referralId: target.referralId,
            referrerId: referral.referrerId,
            createdAt: at,
          });
          return judged;
        })
      : await judge(deps.db);
  await recordCustomerContext(deps.db, signup.customerId, signup.context, deps.clock());
  return flags;
}

/** What a signup's flags are judged against: the referral's referrer, its terms, and when it was created. */
interface JudgedReferral {
  referrerId: string;
  terms: ReferralTerms | undefined;
  /** a claim's velocity is counted up to its claim, not up to a signup that came later */
  createdAt: Date | undefined;
}

/**
 * The referral a signup lands on, as its flags judge it: a new one's from its input; a pending one's from the
 * projection, or, while the projection does not show it yet, from its workflow (a claim whose first write is not in,
 * or a referral this signup started, whose row appears only once it registers). The referrer is never guessed: a flag
 * judged against no referrer would let a flagged signup skip the review. Undefined when there is no such referral.
 */
async function judgedReferral(deps: IntakeDependencies, target: Target): Promise<JudgedReferral | undefined> {
  if (target.kind === 'new')
    return { referrerId: target.input.referrerId, terms: target.input.program.terms, createdAt: undefined };
  const row = await findReferral(deps.db, target.referralId);
  if (row) {
    const terms = await findProgramTerms(deps.db, row.program_id, row.program_version);
    return { referrerId: row.referrer_id, terms, createdAt: row.created_at };
  }
  const live = await queryLiveState(deps, target.referralId);
  if (!live) return undefined;
  return { referrerId: live.referrerId, terms: live.terms, createdAt: new Date(live.createdAt) };
}

/** Runs a step of an accepted signup's delivery; a final refusal from it is kept on the event for replays. */
async function keepingRefusals<T>(deps: IntakeDependencies, eventId: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof IntakeError && error.final) await keepRefusal(deps, eventId, error);
    throw error;
  }
}

/** The signup is kept in the inbox for the relay to deliver again; the caller learns it will be applied. */
async function deliveryDelayed(deps: IntakeDependencies, signup: SignupEvent, error: unknown): Promise<never> {
  deps.logger.warn({ err: error, eventId: signup.eventId }, 'signup accepted but not yet delivered');
  await recordDeliveryFailure(deps.db, 'signup', signup.eventId, String(error));
  throw new IntakeError(
    'temporarily_unavailable',
    'the signup is kept and will be applied; retry with the same eventId to read the result',
    undefined,
    { cause: error },
  );
}

const closesTheClaim = (refusal: IntakeError): boolean =>
  refusal.code === 'referral_closed' || refusal.code === 'referral_not_pending';

/**
 * The claim this signup was meant for, when it lapsed unused before the signup reached it; undefined when it ended
 * otherwise (registered by someone else, cancelled by an admin). A lapsed claim does not refuse the signup for good if
 * the signup came with a code (a use of that code of its own) or happened before the claim's expiry (it was our
 * delivery that came late): either way it starts a referral of its own under the claim's code. `undecided` while the
 * projection still shows the claim pending.
 */
async function lapsedClaimFor(
  deps: IntakeDependencies,
  referralId: string,
  signup: SignupEvent & { occurredAt: string },
): Promise<{ code: string } | 'undecided' | undefined> {
  const claim = await findReferral(deps.db, referralId);
  // The workflow has refused the signup as the claim ends, and the projection does not show the end yet (its worker or
  // PostgreSQL was down, or the expiry's grace is running): whether the claim lapsed is not known here yet, so the
  // signup waits in the inbox for the relay rather than being refused for good.
  if (claim?.status === 'pending') return 'undecided';
  if (!claim || claim.status !== 'expired' || claim.end_reason !== 'referral_expired') return undefined;
  const signedUpInTime = claim.expires_at !== null && Date.parse(signup.occurredAt) <= claim.expires_at.getTime();
  return signup.code || signedUpInTime ? { code: claim.code } : undefined;
}

/**
 * Delivers the registration. A referral the signup creates is started by the same call (update-with-start): one
 * round trip, and the workflow never exists without the registration it was started for.
 */
async function registerAt(deps: IntakeDependencies, target: Target, facts: SignupFacts): Promise<ReferralSnapshot> {
  const workflowId = referralWorkflowId(target.referralId);
  // The update id makes a retried delivery of this signup the same update, answered with the first outcome.
  const updateId = `signup-${facts.eventId}`;
  if (target.kind === 'pending') {
    return callWorkflow(deps, () =>
      deps.temporal.workflow.getHandle(workflowId).executeUpdate(registerUpdate, { args: [facts], updateId }),
    );
  }
  const start = new WithStartWorkflowOperation('referralLifecycle', {
    taskQueue: deps.taskQueue,
    workflowId,
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
  try {
    return await callWorkflow(deps, () =>
      deps.temporal.workflow.executeUpdateWithStart(registerUpdate, {
        args: [facts],
        updateId,
        startWorkflowOperation: start,
      }),
    );
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new IntakeError('referral_closed', `referral ${target.referralId} has already ended`);
    }
    throw error;
  }
}

async function resolveTarget(
  deps: IntakeDependencies,
  signup: SignupEvent & { occurredAt: string },
): Promise<ResolvedTarget> {
  if (signup.referralId) {
    const referral = await loadReferralView(deps, signup.referralId);
    if (!referral) throw new IntakeError('not_found', `no referral ${signup.referralId}`);
    if (signup.code && signup.code !== referral.code) {
      throw new IntakeError('validation_failed', 'code does not belong to the referral', [
        { path: 'code', message: 'does not match referralId' },
      ]);
    }
    const expiredBySignup =
      referral.status === 'pending' &&
      referral.deadlines.expiresAt !== null &&
      signup.occurredAt > referral.deadlines.expiresAt;
    if (!expiredBySignup) return { kind: 'pending', referralId: referral.id, referrerId: referral.referrerId };
    // The claim had expired when this customer signed up: only a code presented at signup refers them now.
    if (!signup.code)
      throw new IntakeError('referral_closed', `referral ${referral.id} expired at ${referral.deadlines.expiresAt}`);
    return newReferralTarget(deps, signup);
  }
  const claim = await findPendingClaimFor(deps.db, signup.code!, { ...signup, at: new Date(signup.occurredAt) });
  if (claim) return { kind: 'pending', referralId: claim.id, referrerId: claim.referrer_id };
  return newReferralTarget(deps, signup);
}

async function newReferralTarget(
  deps: IntakeDependencies,
  signup: SignupEvent & { occurredAt: string },
): Promise<Extract<Target, { kind: 'new' }>> {
  const code = signup.code ? await findReferralCode(deps.db, signup.code) : undefined;
  if (!code) throw new IntakeError('unknown_code', `no referral code ${signup.code}`);
  const program = await currentProgramSnapshot(deps.db, code.program_id);
  if (!program?.active) throw new IntakeError('program_inactive', `programme ${code.program_id} is not active`);
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

/**
 * The same rules the registration activity enforces atomically, checked first so a refusal writes nothing. A hold on
 * the referee left by a referral that ended without registering them is released first: it referred nobody.
 */
async function refuseIfRulesBroken(
  deps: IntakeDependencies,
  signup: SignupEvent,
  target: ResolvedTarget,
): Promise<void> {
  const referrerId = target.kind === 'new' ? target.input.referrerId : target.referrerId;
  if (signup.customerId === referrerId) throw new IntakeError('self_referral', 'a customer cannot use their own code');
  const [referee, referrer] = await Promise.all([
    findCustomer(deps.db, signup.customerId),
    findCustomer(deps.db, referrerId),
  ]);
  const heldBy = referee?.referred_by_referral_id;
  if (
    heldBy &&
    heldBy !== target.referralId &&
    !(await releaseReservationOfUnregisteredReferral(deps.db, signup.customerId, heldBy)) &&
    // Another delivery of this same signup (a copy, a retry, the relay) may have released that hold first and taken
    // the referee for this target since: read the hold again rather than refuse, and keep, a signup that registers.
    (await heldByAnother(deps, signup.customerId, target.referralId))
  ) {
    throw new IntakeError('already_referred', `customer ${signup.customerId} was already referred`);
  }
  const email = normaliseEmail(signup.email) ?? referee?.email_normalized ?? null;
  const phone = normalisePhone(signup.phone) ?? referee?.phone_normalized ?? null;
  if (referrer && ((email && email === referrer.email_normalized) || (phone && phone === referrer.phone_normalized))) {
    throw new IntakeError('self_referral', 'the referee has the referrer’s contact details');
  }
}

async function heldByAnother(deps: IntakeDependencies, customerId: string, referralId: string): Promise<boolean> {
  const holder = (await findCustomer(deps.db, customerId))?.referred_by_referral_id;
  return Boolean(holder) && holder !== referralId;
}

const signupResult = (s: ReferralSnapshot): SignupResult => ({
  referred: true,
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
