import { upsertCustomer, findCustomer } from '../db/customers';
import { normaliseEmail, normalisePhone } from '../db/contact';
import { acceptEvent, forgetRefusedEvent, markEvent, recordDeliveryFailure } from '../db/inbox';
import { currentProgramSnapshot } from '../db/programs';
import { findReferralCode } from '../db/referral-codes';
import { findPendingClaimFor } from '../db/referrals';
import { loadReferralView } from './referral-lookup';
import type { InboxEvent } from '../db/schema';
import { registerUpdate } from '../workflows/messages';
import { ProgramIdKey, ReferralCodeKey, ReferrerIdKey } from '../workflows/search-attributes';
import { referralWorkflowId, type ReferralInput, type ReferralSnapshot, type SignupFacts } from '../workflows/shared';
import type { AppDependencies } from './deps';
import { uuidFromKey } from './ids';
import { Problem } from './problems';
import { refusalProblem } from './temporal-errors';

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

/**
 * A signup event, end to end: replays are answered from the inbox; rule violations are refused before anything is
 * written; an accepted signup is kept in the inbox before it is delivered, so a crash mid-way is finished later.
 */
export async function handleSignup(
  deps: AppDependencies,
  signup: SignupEvent,
  /** the body as sent: a replay is recognised by it, before defaults such as occurredAt were filled in */
  sent: unknown,
): Promise<SignupAnswer> {
  const payload = signupPayload(signup);
  if (!signup.code && !signup.referralId) {
    await upsertCustomer(deps.db, { id: signup.customerId, email: signup.email, phone: signup.phone });
    const acceptance = await acceptEvent(deps.db, { kind: 'signup', eventId: signup.eventId, customerId: signup.customerId, payload, fingerprint: sent });
    if (!acceptance.accepted) return replay(acceptance.existing, acceptance.samePayload);
    const body = { referred: false, customerId: signup.customerId };
    await markEvent(deps.db, 'signup', signup.eventId, { state: 'delivered', response: body });
    return { status: 200, body: { ...body, duplicate: false } };
  }

  const target = await resolveTarget(deps, signup);
  await refuseIfRulesBroken(deps, signup, target);
  const acceptance = await acceptEvent(deps.db, { kind: 'signup', eventId: signup.eventId, customerId: signup.customerId, payload, fingerprint: sent });
  if (!acceptance.accepted && (acceptance.existing.state !== 'received' || !acceptance.samePayload)) {
    return replay(acceptance.existing, acceptance.samePayload);
  }
  return deliverSignup(deps, signup, target);
}

/** Delivers an accepted signup to its referral workflow; the relay calls this for signups left undelivered. */
export async function deliverSignup(deps: AppDependencies, signup: SignupEvent, resolved?: Target): Promise<SignupAnswer> {
  const target = resolved ?? (await resolveTarget(deps, signup));
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
    snapshot = await deps.temporal.withDeadline(Date.now() + (deps.workflowCallTimeoutMs ?? 15_000), async () => {
      if (target.kind === 'new') {
        await deps.temporal.workflow.start('referralWorkflow', {
          taskQueue: deps.taskQueue,
          workflowId: referralWorkflowId(target.referralId),
          args: [target.input],
          // The id comes from the event id: a retried signup reaches the workflow its first attempt started.
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: [
            { key: ReferrerIdKey, value: target.input.referrerId },
            { key: ProgramIdKey, value: target.input.program.id },
            { key: ReferralCodeKey, value: target.input.code },
          ],
        });
      }
      return deps.temporal.workflow
        .getHandle(referralWorkflowId(target.referralId))
        .executeUpdate(registerUpdate, { args: [facts] });
    });
  } catch (error) {
    const refusal = refusalProblem(error);
    if (refusal) {
      await forgetRefusedEvent(deps.db, 'signup', signup.eventId);
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

function replay(existing: InboxEvent, samePayload: boolean): SignupAnswer {
  if (!samePayload) {
    throw new Problem(409, 'idempotency_conflict', `eventId ${existing.event_id} was already used for a different signup`);
  }
  if (existing.state === 'delivered' && existing.response) {
    return { status: 200, body: { ...existing.response, duplicate: true } };
  }
  throw new Problem(503, 'temporarily_unavailable', 'this signup is still being applied; retry shortly');
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
  const code = await findReferralCode(deps.db, signup.code!);
  if (!code) throw new Problem(422, 'unknown_code', `no referral code ${signup.code}`);
  const program = await currentProgramSnapshot(deps.db, code.program_id);
  if (!program?.active) throw new Problem(409, 'program_inactive', `programme ${code.program_id} is not active`);

  const claim = await findPendingClaimFor(deps.db, code.code, signup);
  if (claim) return { kind: 'pending', referralId: claim.id, referrerId: claim.referrer_id };

  const { active: _active, ...snapshot } = program;
  const referralId = uuidFromKey('signup', signup.eventId);
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

const signupPayload = (signup: SignupEvent): Record<string, unknown> => JSON.parse(JSON.stringify(signup));

export const signupBody = (s: ReferralSnapshot): Record<string, unknown> => ({
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
