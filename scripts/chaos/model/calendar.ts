import { durationMs } from './durations';

/**
 * Reference model of point validity (DESIGN §3 "6 calendar months from the credit date", §5.2 `timeZone`). Calendar
 * months count in the programme's IANA time zone: a lot is valid through the whole local day N months after the local
 * day it was credited on, clamped to the last day of a shorter month, and expires when the next local day starts (its
 * first instant: where a DST change skips midnight, that is the end of the gap). `N months`, `N calendar months` (1 to
 * 120) and whole years (`N years`, `N yrs`, `Ny`, 12 months each, up to 120 months) are calendar terms; anything else is
 * a fixed duration (durations.ts) from the credit instant.
 *
 * It reads the zone's offsets from Intl (ICU's time zone data) and finds a day's start by bisection, so it shares no
 * calendar code with the engine (which uses the Temporal API).
 *
 *   pointValidity(term) -> { months } | { ms } | undefined
 *   lotExpiryMs(creditedAtMs, term, timeZone) -> number            throws on a term the engine refuses
 *   localDateOf(instantMs, timeZone), startOfLocalDay(date, timeZone), addMonths(date, months)
 */

export interface LocalDate {
  year: number;
  /** 1 to 12 */
  month: number;
  day: number;
}

export type ModelPointValidity = { months: number } | { ms: number };

const MOST_MONTHS = 120;
const HOUR_MS = 3_600_000;

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

export function localDateOf(instantMs: number, timeZone: string): LocalDate {
  const parts = formatterFor(timeZone).formatToParts(instantMs);
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)!.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

const compareDates = (a: LocalDate, b: LocalDate): number => a.year - b.year || a.month - b.month || a.day - b.day;

export const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

export function addMonths(date: LocalDate, months: number): LocalDate {
  const index = date.year * 12 + (date.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = (index % 12) + 1;
  return { year, month, day: Math.min(date.day, daysInMonth(year, month)) };
}

export function nextDay(date: LocalDate): LocalDate {
  if (date.day < daysInMonth(date.year, date.month)) return { ...date, day: date.day + 1 };
  return date.month === 12 ? { year: date.year + 1, month: 1, day: 1 } : { ...date, month: date.month + 1, day: 1 };
}

/** The first instant whose local date is `date` or later (local dates never go backwards in today's zones). */
export function startOfLocalDay(date: LocalDate, timeZone: string): number {
  const utcMidnight = Date.UTC(date.year, date.month - 1, date.day);
  // Every offset lies within ±14 h, and a zone may skip a whole day: 36 h either side brackets the answer.
  let before = utcMidnight - 36 * HOUR_MS;
  let atOrAfter = utcMidnight + 36 * HOUR_MS;
  while (atOrAfter - before > 1) {
    const middle = Math.floor((before + atOrAfter) / 2);
    if (compareDates(localDateOf(middle, timeZone), date) >= 0) atOrAfter = middle;
    else before = middle;
  }
  return atOrAfter;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** `N months` / `N calendar months` / `N years` ... as months, whether or not N is in range; else undefined. */
function calendarMonthsOf(term: string): number | undefined {
  const text = term.trim();
  let digits = 0;
  while (isDigit(text[digits])) digits += 1;
  if (digits === 0) return undefined;
  const count = Number(text.slice(0, digits));
  let words = text.slice(digits).trimStart().toLowerCase();
  const calendar = /^calendar\s+/.exec(words);
  if (calendar) words = words.slice(calendar[0].length);
  if ((words === 'month' || words === 'months') && digits <= 3) return count;
  const yearWords = calendar ? ['year', 'years'] : ['year', 'years', 'yr', 'yrs', 'y'];
  if (yearWords.includes(words) && digits <= 2) return count * 12;
  return undefined;
}

export function pointValidity(term: string): ModelPointValidity | undefined {
  const months = calendarMonthsOf(term);
  if (months !== undefined) return months >= 1 && months <= MOST_MONTHS ? { months } : undefined;
  const ms = durationMs(term);
  return ms === undefined ? undefined : { ms };
}

export function lotExpiryMs(creditedAtMs: number, term: string, timeZone: string): number {
  const validity = pointValidity(term);
  if (!validity) throw new RangeError(`not a point validity: ${JSON.stringify(term)}`);
  if ('ms' in validity) return Math.floor(creditedAtMs + validity.ms);
  const lastValidDay = addMonths(localDateOf(creditedAtMs, timeZone), validity.months);
  return startOfLocalDay(nextDay(lastValidDay), timeZone);
}
