import {
  ApplicationFailure,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { REFUSALS } from '../workflows/shared';
import { Problem, type ProblemCode } from './problems';

const REFUSAL_STATUS: Record<string, [409 | 422 | 503, ProblemCode]> = {
  [REFUSALS.registrationInProgress]: [503, 'temporarily_unavailable'],
  [REFUSALS.selfReferral]: [422, 'self_referral'],
  [REFUSALS.alreadyReferred]: [409, 'already_referred'],
  [REFUSALS.notPending]: [409, 'referral_not_pending'],
  [REFUSALS.closed]: [409, 'referral_closed'],
};

/** The business refusal a workflow update failed with, as the Problem the API answers; undefined otherwise. */
export function refusalProblem(error: unknown): Problem | undefined {
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
    const mapped = error.cause.type ? REFUSAL_STATUS[error.cause.type] : undefined;
    if (mapped) return new Problem(mapped[0], mapped[1], error.cause.message);
  }
  if (error instanceof WorkflowNotFoundError) {
    return new Problem(409, 'referral_closed', 'the referral has ended');
  }
  return undefined;
}

export const isWorkflowGone = (error: unknown): boolean => error instanceof WorkflowNotFoundError;
