import {
  ApplicationFailure,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  isGrpcServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { FAULTS, REFUSALS } from '../workflows/shared';
import { workflowCallDeadline, type IntakeDependencies } from './deps';
import { IntakeError, type IntakeErrorCode } from './errors';

const REFUSAL_CODES: Record<string, IntakeErrorCode> = {
  // another signup for the same referral is being checked right now: worth retrying
  [REFUSALS.registrationInProgress]: 'temporarily_unavailable',
  [REFUSALS.selfReferral]: 'self_referral',
  [REFUSALS.alreadyReferred]: 'already_referred',
  [REFUSALS.notPending]: 'referral_not_pending',
  [REFUSALS.closed]: 'referral_closed',
};

/** The business refusal a workflow update failed with, as an IntakeError; undefined for anything else. */
export function refusalFromWorkflow(error: unknown): IntakeError | undefined {
  if (
    error instanceof WorkflowUpdateFailedError &&
    error.cause instanceof ApplicationFailure &&
    error.cause.type === FAULTS.referralFault
  ) {
    // The signup's facts broke a database write no retry can fix: refused for good (the fault is listed for admins).
    return new IntakeError('validation_failed', `the signup could not be recorded: ${error.cause.message}`);
  }
  if (error instanceof WorkflowUpdateFailedError && error.cause instanceof ApplicationFailure) {
    const code = error.cause.type ? REFUSAL_CODES[error.cause.type] : undefined;
    if (code) return new IntakeError(code, error.cause.message);
  }
  if (error instanceof WorkflowNotFoundError) return new IntakeError('referral_closed', 'the referral has ended');
  return undefined;
}

export const isWorkflowGone = (error: unknown): boolean => error instanceof WorkflowNotFoundError;

/** Temporal could not be reached at all: no event is at fault, every delivery waits for it. */
export function isTemporalUnreachable(error: unknown): boolean {
  // The client wraps the gRPC error (ServiceError and friends): look down the cause chain.
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    if (isGrpcServiceError(current) && current.code === 14 /* UNAVAILABLE */) return true;
  }
  return false;
}

/**
 * Temporal did not answer in time, or could not be reached: the caller may retry (the event stays in the inbox). A
 * deadline alone may be one workflow that does not answer, so the relay counts it against that event. A call
 * cancelled is one too: the intake cancels none of its calls, and a server whose side of the deadline ran out first
 * resets the stream with CANCEL, which grpc-js reports as CANCELLED, not DEADLINE_EXCEEDED.
 */
export const isTemporalUnavailable = (error: unknown): boolean =>
  isGrpcDeadlineError(error) || isGrpcCancelledError(error) || isTemporalUnreachable(error);

/** Runs one Temporal call for an event under the intake's deadline. */
export const callWorkflow = <T>(deps: IntakeDependencies, call: () => Promise<T>): Promise<T> =>
  deps.temporal.withDeadline(workflowCallDeadline(deps), call);
