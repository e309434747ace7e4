import ms from 'ms';

/**
 * Programme durations are human strings (`30 days`, `12 hours`, `5s`), the same grammar Temporal timers accept,
 * so a term can be handed to `sleep`/`condition` unchanged and still be turned into an instant for deadlines.
 */
export function durationToMs(duration: string): number | undefined {
  if (typeof duration !== 'string' || duration.trim() === '') return undefined;
  const value = ms(duration.trim() as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  return value;
}

export function requireDurationMs(duration: string): number {
  const value = durationToMs(duration);
  if (value === undefined) throw new TypeError(`not a duration: ${JSON.stringify(duration)}`);
  return value;
}

export const addDuration = (instantIso: string, duration: string): string =>
  new Date(Date.parse(instantIso) + requireDurationMs(duration)).toISOString();
