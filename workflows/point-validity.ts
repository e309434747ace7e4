import { Temporal } from 'temporal-polyfill';
import { durationToMs } from './durations';

/**
 * How long a credited lot of points stays valid. Pure (the lot's expiry timer and the ledger compute the same instant).
 *
 * Calendar months (`6 months`) count in the programme's time zone: a lot is valid through the whole local day N months
 * after the day it was credited, clamped to the end of a shorter month, and expires at the start of the next local day.
 * Credited on 31 August it is valid through 28 February (29 in a leap year) and expires at 1 March, 00:00 local time.
 * Whole years (`1 year`, `2y`) are 12 calendar months each, counted the same way: a lot credited on 15 March is valid
 * through 15 March of the next year. Fixed durations (`30s`, `90 days`) run from the credit instant exactly, for demos
 * and tests.
 */

/** DESIGN §3: points are valid 6 calendar months from their credit date; months count in UTC unless a programme says. */
export const DEFAULT_POINT_VALIDITY = '6 months';
export const DEFAULT_TIME_ZONE = 'UTC';

const CALENDAR_MONTHS = /^\s*(\d{1,3})\s*(?:calendar\s+)?months?\s*$/i;
// The duration grammar reads a year as 365.25 days, which would expire a lot at 06:00 on its anniversary.
const CALENDAR_YEARS = /^\s*(\d{1,2})\s*(?:(?:calendar\s+)?years?|yrs?|y)\s*$/i;
const MAX_MONTHS = 120;
const MONTHS_A_YEAR = 12;

export type PointValidity = { months: number } | { ms: number };

/** The validity a term describes, or undefined when it is not one this engine accepts. */
export function parsePointValidity(term: string): PointValidity | undefined {
  const calendar = CALENDAR_MONTHS.exec(term);
  const years = CALENDAR_YEARS.exec(term);
  const months = calendar ? Number(calendar[1]) : years ? Number(years[1]) * MONTHS_A_YEAR : undefined;
  if (months !== undefined) return months >= 1 && months <= MAX_MONTHS ? { months } : undefined;
  // A fractional year (`1.5 years`), refused by the API, stays the fixed duration a version published earlier ran with.
  const ms = durationToMs(term);
  return ms === undefined ? undefined : { ms };
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    Temporal.Now.instant().toZonedDateTimeISO(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The instant a lot credited at `creditedAt` expires. Throws on a validity or time zone it does not accept. */
export function lotExpiresAt(creditedAt: string, validity: string, timeZone: string): string {
  const parsed = parsePointValidity(validity);
  if (!parsed) throw new TypeError(`not a point validity: ${JSON.stringify(validity)}`);
  const credited = Temporal.Instant.from(creditedAt);
  if ('ms' in parsed) return new Date(credited.epochMilliseconds + parsed.ms).toISOString();
  const lastValidDay = credited
    .toZonedDateTimeISO(timeZone)
    .toPlainDate()
    .add({ months: parsed.months }, { overflow: 'constrain' });
  const expires = lastValidDay.add({ days: 1 }).toZonedDateTime({ timeZone });
  return new Date(expires.epochMilliseconds).toISOString();
}
