import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AdminRequest, CancelRequest, ExtendRequest, OrderFacts, ReferralSnapshot, SignupFacts } from './shared';

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

/** A snapshot of the live state; never mutates. */
export const stateQuery = defineQuery<ReferralSnapshot>('state');
