import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { recordClaimResponse, reserveClaimRequest } from '../db/claim-requests';
import { countReferralEarly, uncountReferral, withReferrerVelocityLock } from '../db/customer-contexts';
import { normaliseEmail, normalisePhone } from '../db/contact';
import { payloadHash } from '../db/inbox';
import { currentProgramSnapshot, findProgramTerms } from '../db/programs';
import { findReferralCode } from '../db/referral-codes';
import { addDuration } from '../workflows/durations';
import { ProgramIdKey, ReferralCodeKey, ReferralStatusKey, ReferrerIdKey } from '../workflows/search-attributes';
import type { ReferralCode } from '../db/schema';
import {
  referralWorkflowId,
  reviewTerms,
  type ClaimContext,
  type ProgramSnapshot,
  type ReferralInput,
  type ReferralTerms,
} from '../workflows/shared';
import type { IntakeDependencies } from './deps';
import { computeFraudFlags, type FraudFlag } from './fraud-flags';
import { IntakeError, type IntakeRefusalRecord } from './errors';
import { newReferralId, uuidFromKey } from './ids';
import { loadReferralView } from './referral-lookup';
import type { ReferralView } from './referral-view';
import { callWorkflow } from './workflow-failures';

export interface Claim extends ClaimContext {
  code: string;
}

/** A claim's answer: the referral as read, and the instant the claim lapses unless the invitee signs up. */
export type ClaimedReferral = ReferralView & { expiresAt: string };

export interface ClaimOutcome {
  referral: ClaimedReferral;
  /** the same Idempotency-Key and body were seen before: this is that request's answer */
  replayed: boolean;
}

/** What makes two claims with one Idempotency-Key the same claim: the facts, normalised. */
const claimFingerprint = (claim: Claim): string =>
  payloadHash({
    ...claim,
    invitee: claim.invitee && {
      email: normaliseEmail(claim.invitee.email) ?? undefined,
      phone: normalisePhone(claim.invitee.phone) ?? undefined,
    },
  });

/**
 * A code presented by someone without an account yet: starts a pending referral. With an Idempotency-Key the same
 * claim again answers what the first one did; the key reused for another claim is a conflict.
 */
export async function claimReferral(
  deps: IntakeDependencies,
  claim: Claim,
  idempotencyKey?: string,
): Promise<ClaimOutcome> {
  const referralId = idempotencyKey ? uuidFromKey('claim', idempotencyKey) : newReferralId();
  const fingerprint = claimFingerprint(claim);
  if (idempotencyKey) {
    const earlier = await deps.db
      .selectFrom('claim_requests')
      .selectAll()
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    if (earlier) return answerRepeat(deps, claim, earlier, fingerprint);
  }

  const claimable = await findClaimable(deps, claim.code);
  if (idempotencyKey) {
    // A refusal is kept under its key too: the same claim again gets the same answer, even after the programme changed.
    const response = 'refusal' in claimable ? { refusal: claimable.refusal.toRecord() } : null;
    const reserved = await reserveClaimRequest(deps.db, {
      idempotencyKey,
      payloadHash: fingerprint,
      referralId,
      response,
    });
    // Another request with this key got there first: answer as it did.
    if (!reserved.created) return answerRepeat(deps, claim, reserved.request, fingerprint);
  }
  if ('refusal' in claimable) throw claimable.refusal;
  const { code, program } = claimable;

  const { active: _active, ...snapshot } = program;
  await startCountedClaim(deps, claim, { referralId, code, program: snapshot });
  const referral = await readClaimed(deps, referralId, claim);
  if (idempotencyKey) await recordClaimResponse(deps.db, idempotencyKey, { ...referral });
  deps.logger.info({ referralId, code: code.code }, 'referral claimed');
  return { referral, replayed: false };
}

/** The fraud flags a claim raises against its referrer, from the invitee's details and the request's context. */
const claimFlags = (
  deps: IntakeDependencies,
  claim: Claim,
  on: { referralId: string; referrerId: string; code: string; at: Date; terms: ReferralTerms },
): Promise<FraudFlag[]> =>
  computeFraudFlags(deps.db, {
    referrerId: on.referrerId,
    referralId: on.referralId,
    code: on.code,
    referee: {
      email: claim.invitee?.email,
      phone: claim.invitee?.phone,
      ip: claim.context?.ip,
      deviceId: claim.context?.deviceId,
    },
    at: on.at,
    review: reviewTerms(on.terms),
  });

/** The code and the programme in force, when a claim on the code can be made now. */
async function findClaimable(
  deps: IntakeDependencies,
  codeText: string,
): Promise<{ code: ReferralCode; program: ProgramSnapshot & { active: boolean } } | { refusal: IntakeError }> {
  const code = await findReferralCode(deps.db, codeText);
  if (!code) return { refusal: new IntakeError('unknown_code', `no referral code ${codeText}`) };
  const program = await currentProgramSnapshot(deps.db, code.program_id);
  if (!program?.active)
    return { refusal: new IntakeError('program_inactive', `programme ${code.program_id} is not active`) };
  return { code, program };
}

async function answerRepeat(
  deps: IntakeDependencies,
  claim: Claim,
  earlier: {
    idempotency_key: string;
    payload_hash: string;
    referral_id: string;
    response: Record<string, unknown> | null;
  },
  fingerprint: string,
): Promise<ClaimOutcome> {
  if (earlier.payload_hash !== fingerprint) {
    throw new IntakeError('idempotency_conflict', 'this Idempotency-Key was already used for a different claim');
  }
  const kept = earlier.response?.refusal as IntakeRefusalRecord | undefined;
  if (kept) throw IntakeError.fromRecord(kept);
  if (earlier.response) return { referral: earlier.response as unknown as ClaimedReferral, replayed: true };
  // The first request stopped before it answered: its referral may or may not have started. Finish it.
  const code = await findReferralCode(deps.db, claim.code);
  const program = code ? await currentProgramSnapshot(deps.db, code.program_id) : null;
  if (!(await loadReferralView(deps, earlier.referral_id))) {
    if (!code || !program) throw new IntakeError('unknown_code', `no referral code ${claim.code}`);
    const { active: _active, ...snapshot } = program;
    await startCountedClaim(deps, claim, { referralId: earlier.referral_id, code, program: snapshot });
  }
  const referral = await readClaimed(deps, earlier.referral_id, claim);
  await recordClaimResponse(deps.db, earlier.idempotency_key, { ...referral });
  return { referral, replayed: true };
}

/**
 * Judges the claim and counts its referral toward the referrer's pace under the referrer's velocity lock, then starts
 * the referral's workflow with the lock let go: HIGH_VELOCITY counts the referrer's referrals, and claims judged at once
 * would each miss the others, so simultaneous claims could all pass the limit. The lock is held for the count alone,
 * never while Temporal is called.
 */
async function startCountedClaim(
  deps: IntakeDependencies,
  claim: Claim,
  target: { referralId: string; code: ReferralCode; program: ProgramSnapshot },
): Promise<void> {
  const { referralId, code, program } = target;
  // Created when counted: the referrer's referrals are created in the order they are counted.
  const { flags, createdAt } = await withReferrerVelocityLock(deps.db, code.customer_id, async (trx) => {
    const at = deps.clock();
    const judged = await claimFlags({ ...deps, db: trx }, claim, {
      referralId,
      referrerId: code.customer_id,
      code: code.code,
      at,
      terms: program.terms,
    });
    await countReferralEarly(trx, { referralId, referrerId: code.customer_id, createdAt: at });
    return { flags: judged, createdAt: at };
  });
  try {
    await startClaimedReferral(deps, {
      referralId,
      program,
      code: code.code,
      referrerId: code.customer_id,
      createdAt: createdAt.toISOString(),
      origin: 'claim',
      claim: { channel: claim.channel, invitee: claim.invitee, context: claim.context, flags },
    });
  } catch (error) {
    // Not started (Temporal down): a retry without the Idempotency-Key makes another referral, so this one must not
    // count. Started after all (the answer was lost)? Its projection counts it from its first write.
    await uncountReferral(deps.db, referralId).catch(() => undefined);
    throw error;
  }
}

async function startClaimedReferral(deps: IntakeDependencies, input: ReferralInput): Promise<void> {
  try {
    await callWorkflow(deps, () =>
      deps.temporal.workflow.start('referralLifecycle', {
        taskQueue: deps.taskQueue,
        workflowId: referralWorkflowId(input.referralId),
        args: [input],
        // The same Idempotency-Key finds the referral it made, running or ended; it never starts a second run.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: ReferralStatusKey, value: 'pending' },
          { key: ReferrerIdKey, value: input.referrerId },
          { key: ProgramIdKey, value: input.program.id },
          { key: ReferralCodeKey, value: input.code },
        ],
      }),
    );
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
}

async function readClaimed(deps: IntakeDependencies, referralId: string, claim: Claim): Promise<ClaimedReferral> {
  const view = await loadReferralView(deps, referralId);
  if (!view) throw new Error(`referral ${referralId} was started but cannot be read`);
  // A claim read after its referral moved on still says when the claim would have lapsed.
  const expiresAt = view.deadlines.expiresAt ?? (await claimExpiry(deps, view));
  return { ...view, channel: view.channel ?? claim.channel ?? null, expiresAt };
}

async function claimExpiry(deps: IntakeDependencies, view: ReferralView): Promise<string> {
  const terms = await findProgramTerms(deps.db, view.programId, view.programVersion);
  if (!terms) throw new Error(`programme ${view.programId} v${view.programVersion} has no terms`);
  return addDuration(view.createdAt, terms.referralExpiry);
}
