import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CreditedLot, LotState } from './lot-shared';

/**
 * An update, not a signal: whoever asks for the credit (an admin's adjustment) learns in the same call that it is booked
 * and what lot it made. Asked again, it answers the same lot.
 */
export const creditLotUpdate = defineUpdate<CreditedLot, []>('credit');

/** The lot as its workflow sees it: credited yet, when it expires, whether it has. Never mutates. */
export const lotStateQuery = defineQuery<LotState>('lotState');
