/**
 * Reference model of programme durations: the grammar Temporal's timers read (the `ms` package's), a number and an
 * optional unit, a year being 365.25 days, nothing meaning milliseconds. The engine takes a term only when it is
 * positive (or zero where allowed, as a grace period) and at most 3650 days. Adding one to an instant keeps whole
 * milliseconds, rounding down (instants after 1970).
 *
 *   durationMs(term, { allowZero }) -> number | undefined
 *   addDurationMs(instantMs, term, { allowZero }) -> number          throws on a term the engine refuses
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const UNIT_MS = new Map<string, number>([
  ...['', 'ms', 'msec', 'msecs', 'millisecond', 'milliseconds'].map((u) => [u, 1] as const),
  ...['s', 'sec', 'secs', 'second', 'seconds'].map((u) => [u, SECOND] as const),
  ...['m', 'min', 'mins', 'minute', 'minutes'].map((u) => [u, MINUTE] as const),
  ...['h', 'hr', 'hrs', 'hour', 'hours'].map((u) => [u, HOUR] as const),
  ...['d', 'day', 'days'].map((u) => [u, DAY] as const),
  ...['w', 'week', 'weeks'].map((u) => [u, 7 * DAY] as const),
  ...['y', 'yr', 'yrs', 'year', 'years'].map((u) => [u, 365.25 * DAY] as const),
]);

export const LONGEST_TERM_MS = 3650 * DAY;
// The grammar reads at most this many characters.
const LONGEST_TERM_TEXT = 100;

/** The number's text: an optional minus, digits with at most one point, at least one digit after it. */
function isNumberText(text: string): boolean {
  const unsigned = text.startsWith('-') ? text.slice(1) : text;
  const digits = (s: string) => /^[0-9]*$/.test(s);
  const point = unsigned.indexOf('.');
  if (point === -1) return unsigned.length > 0 && digits(unsigned);
  const fraction = unsigned.slice(point + 1);
  return digits(unsigned.slice(0, point)) && fraction.length > 0 && digits(fraction);
}

export function durationMs(term: string, options: { allowZero?: boolean } = {}): number | undefined {
  const text = term.trim();
  if (text === '' || text.length > LONGEST_TERM_TEXT) return undefined;
  // number, then spaces (only U+0020), then the unit made of letters
  let unitStart = text.length;
  while (unitStart > 0 && /[a-z]/i.test(text[unitStart - 1]!)) unitStart -= 1;
  let numberEnd = unitStart;
  while (numberEnd > 0 && text[numberEnd - 1] === ' ') numberEnd -= 1;
  const numberText = text.slice(0, numberEnd);
  const factor = UNIT_MS.get(text.slice(unitStart).toLowerCase());
  if (factor === undefined || !isNumberText(numberText)) return undefined;
  const value = Number(numberText) * factor;
  if (!Number.isFinite(value) || value < 0 || value > LONGEST_TERM_MS) return undefined;
  if (value === 0 && !options.allowZero) return undefined;
  return value;
}

export function addDurationMs(instantMs: number, term: string, options: { allowZero?: boolean } = {}): number {
  const value = durationMs(term, options);
  if (value === undefined) throw new RangeError(`not a duration the engine takes: ${JSON.stringify(term)}`);
  return Math.floor(instantMs + value);
}
