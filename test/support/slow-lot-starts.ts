/**
 * A workflow interceptor for tests: every child workflow (a lot) starts two days after it is asked for, which holds
 * a completing referral open between its hold's decision and its completion for as long as a test needs.
 */
import { sleep, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      async startChildWorkflowExecution(input, next) {
        await sleep('2 days');
        return next(input);
      },
    },
  ],
});
