import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { addMonths, localDateOf, lotExpiryMs, pointValidity } from '../../scripts/chaos/model/calendar';
import { addDurationMs, durationMs } from '../../scripts/chaos/model/durations';
import { addDuration, durationToMs } from '../../workflows/durations';
import { lotExpiresAt, parsePointValidity } from '../../workflows/point-validity';
import { assertProperty, timeoutFor } from './settings';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// Zones that skip or repeat local midnight, odd offsets, the date line, and the busiest ordinary ones.
const TRICKY_ZONES = [
  'America/Santiago',
  'America/Asuncion',
  'America/Havana',
  'Asia/Beirut',
  'America/Sao_Paulo',
  'Asia/Tehran',
  'Africa/Cairo',
  'Atlantic/Azores',
  'America/Scoresbysund',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
  'Europe/London',
  'America/New_York',
  'Pacific/Apia',
] as const;
const ALL_ZONES = [...new Set(['UTC', 'Asia/Calcutta', 'US/Eastern', ...Intl.supportedValuesOf('timeZone')])];

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
/** The zone's UTC offset at an instant, in ms, read from Intl's wall clock. */
function offsetMs(instantMs: number, timeZone: string): number {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    offsetFormatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(instantMs).map((x) => [x.type, Number(x.value)]));
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
  return wall - Math.floor(instantMs / 1000) * 1000;
}

/** Offset changes of a zone between 2005 and 2035, to the second (found day by day, then by bisection). */
function transitionsOf(timeZone: string): number[] {
  const found: number[] = [];
  const end = Date.UTC(2035, 0, 1);
  let t = Date.UTC(2005, 0, 1);
  let offset = offsetMs(t, timeZone);
  for (; t < end; t += DAY_MS) {
    const next = offsetMs(t + DAY_MS, timeZone);
    if (next === offset) continue;
    let lo = t;
    let hi = t + DAY_MS;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (offsetMs(mid, timeZone) === offset) lo = mid;
      else hi = mid;
    }
    found.push(hi);
    offset = next;
  }
  return found;
}
const TRANSITIONS = TRICKY_ZONES.map((zone) => ({ zone, at: transitionsOf(zone) })).filter((z) => z.at.length > 0);

const monthsArb = fc.oneof(fc.constant(6), fc.integer({ min: 1, max: 120 }));
const calendarTermArb = monthsArb.chain((months) =>
  fc.constantFrom(
    `${months} months`,
    `${months} calendar months`,
    ...(months % 12 === 0 ? [`${months / 12} years`, `${months / 12}y`] : []),
  ),
);

/** Credits anywhere this century, at month ends, next to DST changes, and N months before one. */
const creditArb: fc.Arbitrary<{ creditedAtMs: number; timeZone: string; term: string }> = fc.oneof(
  fc.record({
    creditedAtMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2090, 0, 1) }),
    timeZone: fc.constantFrom(...ALL_ZONES),
    term: calendarTermArb,
  }),
  fc
    .record({
      year: fc.integer({ min: 2000, max: 2090 }),
      month: fc.integer({ min: 0, max: 11 }),
      day: fc.constantFrom(28, 29, 30, 31, 32),
      hourShift: fc.integer({ min: -15 * 60, max: 15 * 60 }),
      timeZone: fc.constantFrom(...ALL_ZONES),
      term: calendarTermArb,
    })
    .map(({ year, month, day, hourShift, timeZone, term }) => ({
      creditedAtMs: Date.UTC(year, month, day) + hourShift * 60_000,
      timeZone,
      term,
    })),
  fc
    .record({
      zone: fc.nat(),
      transition: fc.nat(),
      shiftMs: fc.integer({ min: -3 * HOUR_MS, max: 3 * HOUR_MS }),
      months: monthsArb,
      monthsBefore: fc.boolean(),
      calendar: fc.boolean(),
    })
    .map(({ zone, transition, shiftMs, months, monthsBefore, calendar }) => {
      const z = TRANSITIONS[zone % TRANSITIONS.length]!;
      const at = z.at[transition % z.at.length]!;
      // a credit N months and about a day before a change: its lot expires at the start of a day next to it
      const creditedAtMs = monthsBefore ? at - months * 30.436875 * DAY_MS - DAY_MS + shiftMs * 8 : at + shiftMs;
      return {
        creditedAtMs: Math.round(creditedAtMs),
        timeZone: z.zone,
        term: `${months} ${calendar ? 'calendar ' : ''}months`,
      };
    }),
);

const RUNS = 300;
// A long run (PROPERTY_RUNS) gets the time it needs.
vi.setConfig({ testTimeout: timeoutFor(RUNS * 3, 15) });

describe('point validity against the reference model', () => {
  it('given a credit at any instant in any time zone, when its lot is valid for calendar months, then it expires where the model says: the start of the local day after the same day N months on, clamped to the month', () => {
    assertProperty(
      fc.property(creditArb, ({ creditedAtMs, timeZone, term }) => {
        const product = lotExpiresAt(new Date(creditedAtMs).toISOString(), term, timeZone);
        expect({ expiresAt: product, timeZone }).toEqual({
          expiresAt: new Date(lotExpiryMs(creditedAtMs, term, timeZone)).toISOString(),
          timeZone,
        });
      }),
      RUNS,
    );
  });

  it('given a calendar validity, then the expiry is after the credit, starts a local day, and moves forward with a later credit and with more months', () => {
    assertProperty(
      fc.property(creditArb, fc.integer({ min: 0, max: 40 * DAY_MS }), ({ creditedAtMs, timeZone, term }, later) => {
        const expiry = Date.parse(lotExpiresAt(new Date(creditedAtMs).toISOString(), term, timeZone));
        expect(expiry).toBeGreaterThan(creditedAtMs);
        // the first instant of its local day: a millisecond earlier it was still the day before
        const day = localDateOf(expiry, timeZone);
        const before = localDateOf(expiry - 1, timeZone);
        expect([before.year, before.month, before.day]).not.toEqual([day.year, day.month, day.day]);
        const laterExpiry = Date.parse(lotExpiresAt(new Date(creditedAtMs + later).toISOString(), term, timeZone));
        expect(laterExpiry).toBeGreaterThanOrEqual(expiry);
        const { months } = pointValidity(term) as { months: number };
        if (months < 120) {
          const longer = Date.parse(
            lotExpiresAt(new Date(creditedAtMs).toISOString(), `${months + 1} months`, timeZone),
          );
          expect(longer).toBeGreaterThan(expiry);
        }
      }),
      RUNS,
    );
  });

  it('given a credit on the last days of a month, when the target month is shorter, then the lot is valid through the target month’s last day (a model-free check of the clamp)', () => {
    assertProperty(
      fc.property(
        fc.integer({ min: 2000, max: 2090 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 28, max: 31 }),
        monthsArb,
        (year, month, day, months) => {
          const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
          if (day > lastDay) return;
          const credited = Date.UTC(year, month - 1, day, 12);
          const expiry = Date.parse(lotExpiresAt(new Date(credited).toISOString(), `${months} months`, 'UTC'));
          const lastValid = new Date(expiry - 1);
          const target = new Date(Date.UTC(year, month - 1 + months, 1));
          const targetLast = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
          expect(expiry % DAY_MS).toBe(0);
          expect([lastValid.getUTCFullYear(), lastValid.getUTCMonth(), lastValid.getUTCDate()]).toEqual([
            target.getUTCFullYear(),
            target.getUTCMonth(),
            Math.min(day, targetLast),
          ]);
          expect(addMonths({ year, month, day }, months).day).toBe(Math.min(day, targetLast));
        },
      ),
      RUNS,
    );
  });
});

// Pieces of validity and duration terms: what the grammars accept, their near misses, and odd spacing and case.
const WHITESPACE = ['', '', '', ' ', '\t', '\n', '\u00a0', '  '];
const NUMBERS = fc.oneof(
  fc.nat({ max: 200 }).map(String),
  fc.nat({ max: 9999 }).map((n) => String(n).padStart(4, '0')),
  fc.tuple(fc.nat({ max: 99 }), fc.nat({ max: 999_999 })).map(([a, b]) => `${a}.${b}`),
  fc.constantFrom('.5', '1.', '.', '1..2', '-1', '-.5', '-0', '0', '00', '1e3', '0x10', '٣', '12345678901234567890'),
);
// prettier-ignore
const UNITS = [
  '', 'ms', 'msec', 'msecs', 'millisecond', 'milliseconds', 's', 'sec', 'secs', 'second', 'seconds',
  'm', 'min', 'mins', 'minute', 'minutes', 'h', 'hr', 'hrs', 'hour', 'hours', 'd', 'day', 'days',
  'w', 'week', 'weeks', 'y', 'yr', 'yrs', 'year', 'years', 'month', 'months', 'calendar months',
  'calendar month', 'calendar  years', 'calendar year', 'calendar yr', 'calendarmonths', 'mo', 'mth', 'x', 'sec s',
];
const randomCase = (text: string, mask: number) =>
  text
    .split('')
    .map((c, i) => ((mask >> (i % 30)) & 1 ? c.toUpperCase() : c))
    .join('');
const termArb = fc
  .record({
    lead: fc.constantFrom(...WHITESPACE),
    number: NUMBERS,
    gap: fc.constantFrom('', '', ' ', '  ', '\t'),
    unit: fc.constantFrom(...UNITS),
    mask: fc.oneof(fc.constant(0), fc.nat()),
    trail: fc.constantFrom(...WHITESPACE),
  })
  .map(({ lead, number, gap, unit, mask, trail }) => `${lead}${number}${gap}${randomCase(unit, mask)}${trail}`);

describe('term grammars against the reference model', () => {
  it('given any validity term, when read, then it is the calendar months, the fixed duration or the refusal the model reads', () => {
    assertProperty(
      fc.property(termArb, (term) => {
        expect({ term, validity: parsePointValidity(term) }).toEqual({ term, validity: pointValidity(term) });
      }),
      RUNS * 3,
    );
  });

  it('given any duration term, when read (with and without zero allowed), then it is the model’s milliseconds or refusal', () => {
    assertProperty(
      fc.property(termArb, fc.boolean(), (term, allowZero) => {
        const ms = durationToMs(term, { allowZero });
        expect({ term, ms }).toEqual({ term, ms: durationMs(term, { allowZero }) });
      }),
      RUNS * 3,
    );
  });

  it('given a duration the engine takes, when added to an instant, then it lands where the model says', () => {
    assertProperty(
      fc.property(
        termArb.filter((term) => durationMs(term, { allowZero: true }) !== undefined),
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2090, 0, 1) }),
        (term, instantMs) => {
          expect(addDuration(new Date(instantMs).toISOString(), term, { allowZero: true })).toBe(
            new Date(addDurationMs(instantMs, term, { allowZero: true })).toISOString(),
          );
        },
      ),
      RUNS,
    );
  });

  it('given a fixed-duration validity, when a lot is credited in any zone, then it expires exactly that long after the credit', () => {
    assertProperty(
      fc.property(
        termArb.filter((term) => {
          const v = pointValidity(term);
          return v !== undefined && 'ms' in v;
        }),
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2090, 0, 1) }),
        fc.constantFrom(...ALL_ZONES),
        (term, creditedAtMs, timeZone) => {
          const expiry = lotExpiresAt(new Date(creditedAtMs).toISOString(), term, timeZone);
          expect(expiry).toBe(new Date(creditedAtMs + durationToMs(term)!).toISOString());
          expect(expiry).toBe(new Date(lotExpiryMs(creditedAtMs, term, timeZone)).toISOString());
        },
      ),
      RUNS,
    );
  });
});
