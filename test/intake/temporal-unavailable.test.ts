import { WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { isTemporalUnavailable } from '../../intake/workflow-failures';

/** gRPC status codes (grpc-js `status`). */
const CANCELLED = 1;
const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const UNAVAILABLE = 14;

/** A gRPC error shaped as grpc-js reports it: a code, its details, the metadata. */
const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code}: ${details}`), { code, details, metadata: {} });

const updateCallEnded = (code: number, details: string) =>
  new WorkflowUpdateRPCTimeoutOrCancelledError(details, { cause: grpcError(code, details) });

describe('Temporal unavailable (503, retry) or not (500)', () => {
  it('given an update call that ran out of its deadline, reported as DEADLINE_EXCEEDED or as CANCELLED by the server resetting the stream, then Temporal is unavailable', () => {
    expect(isTemporalUnavailable(updateCallEnded(DEADLINE_EXCEEDED, 'Deadline exceeded after 10.006s'))).toBe(true);
    // seen in the chaos run: a cancel answered 500 after its 10 s deadline, "1 CANCELLED: Call cancelled"
    expect(isTemporalUnavailable(updateCallEnded(CANCELLED, 'Call cancelled'))).toBe(true);
  });

  it('given Temporal unreachable, then it is unavailable; given any other failure, then it is not', () => {
    expect(isTemporalUnavailable(grpcError(UNAVAILABLE, 'Connection dropped'))).toBe(true);
    expect(isTemporalUnavailable(grpcError(INVALID_ARGUMENT, 'bad request'))).toBe(false);
    expect(isTemporalUnavailable(new Error('boom'))).toBe(false);
  });
});
