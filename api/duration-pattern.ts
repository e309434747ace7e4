import { MAX_TERM_DURATION_MS } from '../workflows/durations';

/**
 * The duration grammar the API accepts, as one regular expression that the OpenAPI document publishes as `pattern`.
 *
 * workflows/durations.ts decides what a duration is at run time (the `ms` grammar, no longer than
 * MAX_TERM_DURATION). A JSON Schema cannot say "at most 3650 days" as a number, so the bound is spelled out in the
 * pattern, per unit, as "an integer part below N with a fraction of up to 6 digits, or N itself" (and a fraction of
 * one unit only if it lasts a millisecond or more). Everything the pattern matches is
 * accepted by `durationToMs`, and a request a generator builds from the published schema is never refused as
 * invalid. The API's grammar is a little narrower than `ms`'s: lowercase units, at most one space, no leading zeros,
 * no leading dot, no sign.
 */

const DAY_MS = 24 * 60 * 60 * 1000;

/** Each unit's spellings, with its length in milliseconds (as `ms` counts them: a year is 365.25 days). */
const UNITS: ReadonlyArray<{ spellings: string; ms: number }> = [
  { spellings: '(?:ms|msecs?|milliseconds?)?', ms: 1 },
  { spellings: '(?:s|secs?|seconds?)', ms: 1000 },
  { spellings: '(?:m|mins?|minutes?)', ms: 60 * 1000 },
  { spellings: '(?:h|hrs?|hours?)', ms: 60 * 60 * 1000 },
  { spellings: '(?:d|days?)', ms: DAY_MS },
  { spellings: '(?:w|weeks?)', ms: 7 * DAY_MS },
  { spellings: '(?:y|yrs?|years?)', ms: 365.25 * DAY_MS },
];

/** A regex (no anchors) for the integers 1..max written without leading zeros. */
export function positiveIntegersUpTo(max: number): string {
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`no positive integers up to ${max}`);
  const digits = String(max);
  if (digits.length === 1) return max === 1 ? '1' : `[1-${max}]`;
  const alternatives: string[] = [];
  // Every shorter length, whole.
  if (digits.length > 1) alternatives.push(digits.length === 2 ? '[1-9]' : `[1-9][0-9]{0,${digits.length - 2}}`);
  // Same length: the first i digits as in max, then a smaller digit, then anything.
  for (let i = 0; i < digits.length; i += 1) {
    const digit = Number(digits[i]);
    const lowest = i === 0 ? 1 : 0;
    const rest = digits.length - i - 1;
    if (digit > lowest) {
      const range = digit - 1 === lowest ? String(lowest) : `[${lowest}-${digit - 1}]`;
      alternatives.push(`${digits.slice(0, i)}${range}${rest > 0 ? `[0-9]${rest > 1 ? `{${rest}}` : ''}` : ''}`);
    }
  }
  alternatives.push(digits);
  return alternatives.length === 1 ? alternatives[0]! : `(?:${alternatives.join('|')})`;
}

/** At most this many digits after the point: `ms` refuses strings over 100 characters, and no term needs more. */
export const MAX_FRACTION_DIGITS = 6;

/**
 * A regex (no anchors) for the fractions `f` (1 to MAX_FRACTION_DIGITS digits after the point, without the point)
 * with `0.f` at least `least` millionths. Digit by digit: the first i digits as in `least`, then a larger digit, then
 * anything; or `least` itself (its trailing zeros optional), then anything.
 */
export function fractionsAtLeast(least: number): string {
  const scale = 10 ** MAX_FRACTION_DIGITS;
  if (!Number.isInteger(least) || least < 1 || least >= scale)
    throw new RangeError(`no fractions of at least ${least}/${scale}`);
  const digits = String(least).padStart(MAX_FRACTION_DIGITS, '0').replace(/0+$/, '');
  const anything = (n: number) => (n > 0 ? `[0-9]{0,${n}}` : '');
  const alternatives: string[] = [];
  for (let i = 0; i < digits.length; i += 1) {
    const digit = Number(digits[i]);
    if (digit < 9)
      alternatives.push(
        `${digits.slice(0, i)}${digit + 1 === 9 ? '9' : `[${digit + 1}-9]`}${anything(MAX_FRACTION_DIGITS - i - 1)}`,
      );
  }
  alternatives.push(`${digits}${anything(MAX_FRACTION_DIGITS - digits.length)}`);
  return `(?:${alternatives.join('|')})`;
}

/**
 * Numbers of a unit `unitMs` long that stay within `maxUnits` and, unless zero is allowed, last at least a
 * millisecond (a timer of 0.5 ms is a timer of none).
 */
function amountsUpTo(maxUnits: number, unitMs: number, allowZero: boolean): string {
  const whole = Math.floor(maxUnits);
  const fraction = `\\.[0-9]{1,${MAX_FRACTION_DIGITS}}`;
  const alternatives = [
    // the largest whole number itself, with no more than zeros after the point
    `${whole}(?:\\.0{1,${MAX_FRACTION_DIGITS}})?`,
  ];
  // below the largest whole number, any fraction
  if (whole > 1) alternatives.unshift(`${positiveIntegersUpTo(whole - 1)}(?:${fraction})?`);
  if (allowZero) {
    // zero, or any fraction of one unit
    alternatives.push(`0(?:${fraction})?`);
  } else {
    // a fraction of one unit that lasts a millisecond or more (none for milliseconds themselves)
    const least = Math.ceil(10 ** MAX_FRACTION_DIGITS / unitMs);
    if (least < 10 ** MAX_FRACTION_DIGITS) alternatives.unshift(`0\\.${fractionsAtLeast(least)}`);
  }
  return `(?:${alternatives.join('|')})`;
}

const build = (allowZero: boolean): string =>
  `^(?:${UNITS.map(({ spellings, ms }) => `${amountsUpTo(MAX_TERM_DURATION_MS / ms, ms, allowZero)} ?${spellings}`).join('|')})$`;

/** A duration of at least a millisecond and at most MAX_TERM_DURATION. */
export const DURATION_PATTERN = new RegExp(build(false));
/** The same, zero included (`0`, `0s`): a grace period may be none. */
export const DURATION_OR_ZERO_PATTERN = new RegExp(build(true));
