import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AdminRequest,
  CancelRequest,
  ExtendRequest,
  OrderFacts,
  ProgramSnapshot,
  ReferralSnapshot,
  SignupFacts,
  TermsMoveRequest,
} from './shared';
import type { TermsMovePlan } from './terms-move';

/**
 * The referral workflow's public surface, with explicit wire names (they appear in histories and the UI).
 */

/**
 * An update, not a signal: the commerce backend must learn in the same request whether the signup was accepted
 * or refused (self-referral, already referred), and a refusal must leave the referral as it was.
 */
export const registerUpdate = defineUpdate<ReferralSnapshot, [SignupFacts]>('register');

/** A signal: an order event is a fact that may arrive twice or late; the order book absorbs both. */
export const orderSignal = defineSignal<[OrderFacts]>('order');

/** An update: the admin sees at once whether the cancel took effect or the referral had already ended. */
export const cancelUpdate = defineUpdate<ReferralSnapshot, [CancelRequest]>('cancel');

/** An admin's yes to a referral under review: it goes on as registered, its voucher issued. */
export const approveUpdate = defineUpdate<ReferralSnapshot, [AdminRequest]>('approve');

/** An admin's no: the referral ends as rejected, pays nothing more and voids what it had not paid. */
export const rejectUpdate = defineUpdate<ReferralSnapshot, [AdminRequest & { reason: string }]>('reject');

/** Moves the current stage's deadline later (never earlier); the stage then runs to the new one. */
export const extendUpdate = defineUpdate<ReferralSnapshot, [ExtendRequest]>('extend');

/** Moves the referral to another version of its programme, where the rule of workflows/terms-move.ts allows it. */
export const moveTermsUpdate = defineUpdate<ReferralSnapshot, [TermsMoveRequest]>('moveTerms');

/**
 * What moving to these terms would change at the given instant (a query sees the time of the workflow's last task,
 * not now), by the same rule the move applies; a dry run. Never mutates.
 */
export const termsMovePreviewQuery = defineQuery<TermsMovePlan, [ProgramSnapshot, string]>('termsMovePreview');

/** A snapshot of the live state; never mutates. */
export const stateQuery = defineQuery<ReferralSnapshot>('state');
