/**
 * What the intake refuses, in domain words. No HTTP here: the API maps each code to a status in one place
 * (api/problems.ts), and the relay decides from the code whether an event is worth retrying.
 */
export const INTAKE_ERROR_CODES = [
  'not_found',
  'validation_failed',
  'self_referral',
  'already_referred',
  'unknown_code',
  'program_inactive',
  'referral_not_pending',
  'referral_closed',
  'invalid_transition',
  'idempotency_conflict',
  'insufficient_points',
  'voucher_already_redeemed',
  'voucher_not_active',
  'temporarily_unavailable',
] as const;
export type IntakeErrorCode = (typeof INTAKE_ERROR_CODES)[number];

export interface FieldError {
  path: string;
  message: string;
}

export class IntakeError extends Error {
  constructor(
    readonly code: IntakeErrorCode,
    readonly detail: string,
    readonly fields?: FieldError[],
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = 'IntakeError';
  }

  /** A final answer about this event: retrying it cannot change the outcome. */
  get final(): boolean {
    return this.code !== 'temporarily_unavailable';
  }

  /** The stored form, kept on an inbox event so a replay gets the same answer. */
  toRecord(): IntakeRefusalRecord {
    return { code: this.code, detail: this.detail };
  }

  static fromRecord(record: IntakeRefusalRecord): IntakeError {
    return new IntakeError(record.code, record.detail);
  }
}

export interface IntakeRefusalRecord {
  code: IntakeErrorCode;
  detail: string;
}

export const isIntakeErrorCode = (value: unknown): value is IntakeErrorCode =>
  typeof value === 'string' && (INTAKE_ERROR_CODES as readonly string[]).includes(value);
