import ms from 'ms';

/**
 * Programme durations are human strings (`30 days`, `12 hours`, `5s`), the same grammar Temporal timers accept,
 * so a term can be handed to `sleep`/`condition` unchanged and still be turned into an instant for deadlines.
 */

/** No term runs longer than this: every deadline it produces stays a valid instant for JavaScript and PostgreSQL. */
export const MAX_TERM_DURATION_MS = 10 * 365 * 24 * 60 * 60 * 1000;
export const MAX_TERM_DURATION = '3650 days';

/**
 * The duration in milliseconds, or undefined when it is not a duration this engine accepts: not in the grammar,
 * negative, zero (unless `allowZero`, as for a grace period), or longer than MAX_TERM_DURATION_MS.
 */
export function durationToMs(duration: string, options: { allowZero?: boolean } = {}): number | undefined {
  if (typeof duration !== 'string' || duration.trim() === '') return undefined;
  const value = ms(duration.trim() as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  if (value < 0 || (value === 0 && !options.allowZero) || value > MAX_TERM_DURATION_MS) return undefined;
  return value;
}

export function requireDurationMs(duration: string, options: { allowZero?: boolean } = {}): number {
  const value = durationToMs(duration, options);
  if (value === undefined) throw new TypeError(`not a duration: ${JSON.stringify(duration)}`);
  return value;
}

export const addDuration = (instantIso: string, duration: string, options: { allowZero?: boolean } = {}): string =>
  new Date(Date.parse(instantIso) + requireDurationMs(duration, options)).toISOString();
