import type { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ProgramSnapshot, ReferralTerms } from '../../workflows/shared';
import { TEST_TERMS } from './referral-scenario';

/** What the tests of moves to new terms share: the second version, a move request, and how a refusal reads. */
export const DAY = 86_400_000;

export const version2 = (terms: Partial<ReferralTerms>): ProgramSnapshot => ({
  id: 'program-1',
  version: 2,
  currency: 'INR',
  terms: { ...TEST_TERMS, ...terms },
});

export const move = (program: ProgramSnapshot, requestId = 'move-1') => ({ requestId, actor: 'ops', program });

export const refusal = (error: unknown) =>
  (error as WorkflowUpdateFailedError).cause as { type?: string; message?: string };
