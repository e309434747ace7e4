import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { refusalFromWorkflow } from '../../intake/workflow-failures';
import { FAULTS, REFUSALS } from '../../workflows/shared';

const updateFailedWith = (type: string) =>
  new WorkflowUpdateFailedError(
    'update failed',
    ApplicationFailure.create({ type, message: `because ${type}`, nonRetryable: true }),
  );

describe('workflow refusals', () => {
  it('given an update refused by a business rule, then it is the matching intake refusal', () => {
    expect(refusalFromWorkflow(updateFailedWith(REFUSALS.selfReferral))).toMatchObject({
      code: 'self_referral',
      final: true,
    });
    expect(refusalFromWorkflow(updateFailedWith(REFUSALS.registrationInProgress))).toMatchObject({
      code: 'temporarily_unavailable',
      final: false,
    });
  });

  it('given a signup whose facts broke a database write no retry can fix, then it is refused for good, not retried', () => {
    const refusal = refusalFromWorkflow(updateFailedWith(FAULTS.referralFault));
    expect(refusal).toMatchObject({ code: 'validation_failed', final: true });
    expect(refusal?.detail).toContain(FAULTS.referralFault);
  });

  it('given any other failure, then it is not a refusal', () => {
    expect(refusalFromWorkflow(updateFailedWith('SomethingElse'))).toBeUndefined();
    expect(refusalFromWorkflow(new Error('boom'))).toBeUndefined();
  });
});
