import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { INTAKE_ERROR_CODES, type FieldError, type IntakeError, type IntakeErrorCode } from '../intake/errors';

/**
 * Stable machine-readable codes; integrations switch on these, never on titles or details. The HTTP layer's own, then
 * every refusal of the intake.
 */
export const PROBLEM_CODES = [
  'unauthorized',
  'forbidden',
  'method_not_allowed',
  'invalid_json',
  'payload_too_large',
  'unsupported_media_type',
  'internal_error',
  ...INTAKE_ERROR_CODES,
] as const;
export type ProblemCode = (typeof PROBLEM_CODES)[number];

const TITLES: Record<ProblemCode, string> = {
  unauthorized: 'Missing or unknown API key',
  forbidden: 'This key may not use this route',
  not_found: 'Not found',
  method_not_allowed: 'This route does not take this method',
  invalid_json: 'The body is not valid JSON',
  validation_failed: 'The request is not valid',
  payload_too_large: 'The body is too large',
  unsupported_media_type: 'The body must be application/json',
  self_referral: 'Customers cannot refer themselves',
  already_referred: 'The customer was already referred',
  unknown_code: 'Unknown referral code',
  program_inactive: 'The programme is not active',
  referral_not_pending: 'The referral is no longer waiting for a signup',
  referral_closed: 'The referral has ended',
  invalid_transition: 'The action does not apply to the referral as it is',
  idempotency_conflict: 'This id was already used with a different body',
  insufficient_points: 'The customer does not have that many points to spend',
  voucher_already_redeemed: 'The voucher was already used for another checkout',
  voucher_not_active: 'The voucher is void or expired',
  temporarily_unavailable: 'A dependency is unavailable; retry with the same event id',
  internal_error: 'Internal error',
};

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
  instance?: string;
}

/** A refusal the API answers as RFC 9457 problem+json. Thrown from handlers; rendered by the one onError. */
export class Problem extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: ProblemCode,
    readonly detail: string,
    readonly errors?: FieldError[],
  ) {
    super(status, { message: detail });
  }

  body(instance?: string): ProblemBody {
    return {
      type: `urn:referrals:problem:${this.code}`,
      title: TITLES[this.code],
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(this.errors ? { errors: this.errors } : {}),
      ...(instance ? { instance } : {}),
    };
  }
}

/** The one place a domain refusal becomes an HTTP status. */
const INTAKE_STATUS: Record<IntakeErrorCode, ContentfulStatusCode> = {
  not_found: 404,
  validation_failed: 422,
  self_referral: 422,
  already_referred: 409,
  unknown_code: 422,
  program_inactive: 409,
  referral_not_pending: 409,
  referral_closed: 409,
  invalid_transition: 409,
  idempotency_conflict: 409,
  insufficient_points: 422,
  voucher_already_redeemed: 409,
  voucher_not_active: 409,
  temporarily_unavailable: 503,
};

export const problemFromIntake = (error: IntakeError): Problem =>
  new Problem(INTAKE_STATUS[error.code], error.code, error.detail, error.fields);

export const problemResponse = (problem: Problem, instance?: string, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(problem.body(instance)), {
    status: problem.status,
    headers: { ...headers, 'content-type': 'application/problem+json' },
  });
