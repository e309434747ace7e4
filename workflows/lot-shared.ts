/**
 * Names and shapes of a lot of points, shared by the intake, the ledger activities and the lot's workflow. Pure types
 * and constants: the workflow bundle imports this file.
 */

/** One lot, one workflow: it credits the lot, then holds its expiry timer. */
export const pointLotWorkflowId = (lotKey: string): string => `lot-${lotKey}`;

export type LotSourceKind = 'referral' | 'milestone' | 'adjustment';

/** Everything needed to credit a lot, decided before its workflow starts (history keeps it). */
export interface LotCreditRequest {
  customerId: string;
  points: number;
  /** RFC 3339 */
  creditedAt: string;
  expiresAt: string;
  source: {
    kind: LotSourceKind;
    referralId?: string | null;
    programId?: string | null;
    programVersion?: number | null;
  };
  qualifyingOrderIds?: string[] | null;
  actor?: string | null;
  reason?: string | null;
  /** what credits it (`adjustment:<customer>:<id>`, `referral:<id>`): a credit retried with it books nothing twice */
  creditKey: string;
}

export interface CreditedLot {
  lotId: string;
  customerId: string;
  points: number;
  creditedAt: string;
  expiresAt: string;
  /** false when the credit key had been booked before (a retry) */
  created: boolean;
}

export interface LotState {
  lot: CreditedLot | null;
  expiredPoints: number | null;
}
