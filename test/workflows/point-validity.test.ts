import { describe, expect, it } from 'vitest';
import { isTimeZone, lotExpiresAt, parsePointValidity } from '../../workflows/point-validity';

describe('point validity', () => {
  it('given a lot credited on 31 August, when it is valid 6 calendar months, then it expires at the start of 1 March (after 28 February)', () => {
    expect(lotExpiresAt('2026-08-31T10:00:00Z', '6 months', 'UTC')).toBe('2027-03-01T00:00:00.000Z');
  });

  it('given a lot credited on 31 August before a leap year, then it is valid through 29 February', () => {
    expect(lotExpiresAt('2027-08-31T23:59:59Z', '6 months', 'UTC')).toBe('2028-03-01T00:00:00.000Z');
    expect(lotExpiresAt('2028-02-29T12:00:00Z', '6 months', 'UTC')).toBe('2028-08-30T00:00:00.000Z');
  });

  it('given month ends, then a shorter month clamps and a longer one keeps the day', () => {
    expect(lotExpiresAt('2026-03-31T08:00:00Z', '6 months', 'UTC')).toBe('2026-10-01T00:00:00.000Z');
    expect(lotExpiresAt('2026-05-31T08:00:00Z', '6 months', 'UTC')).toBe('2026-12-01T00:00:00.000Z');
    expect(lotExpiresAt('2026-04-30T08:00:00Z', '1 month', 'UTC')).toBe('2026-05-31T00:00:00.000Z');
  });

  it('given the programme time zone, then the credit day and the expiry are local days', () => {
    // 31 August 20:00 UTC is already 1 September in Kolkata: valid through 1 March local, expiring at its end
    expect(lotExpiresAt('2026-08-31T20:00:00Z', '6 months', 'Asia/Kolkata')).toBe('2027-03-01T18:30:00.000Z');
    expect(lotExpiresAt('2026-08-31T10:00:00Z', '6 months', 'Asia/Kolkata')).toBe('2027-02-28T18:30:00.000Z');
    // across a daylight-saving change the expiry is local midnight all the same
    expect(lotExpiresAt('2026-09-15T12:00:00Z', '6 months', 'Europe/Berlin')).toBe('2027-03-15T23:00:00.000Z');
  });

  it('given a validity in whole years, then each year is 12 calendar months in the programme time zone, not 365.25 days', () => {
    expect(lotExpiresAt('2026-03-15T10:00:00Z', '1 year', 'UTC')).toBe('2027-03-16T00:00:00.000Z');
    expect(lotExpiresAt('2026-03-15T10:00:00Z', '2y', 'UTC')).toBe('2028-03-16T00:00:00.000Z');
    // valid through 15 March local, expiring at the start of 16 March in Kolkata
    expect(lotExpiresAt('2026-03-15T10:00:00Z', '1 year', 'Asia/Kolkata')).toBe('2027-03-15T18:30:00.000Z');
    // a leap day clamps to 28 February, as 12 months would
    expect(lotExpiresAt('2028-02-29T12:00:00Z', '1 year', 'UTC')).toBe(
      lotExpiresAt('2028-02-29T12:00:00Z', '12 months', 'UTC'),
    );
    expect(lotExpiresAt('2028-02-29T12:00:00Z', '1 year', 'UTC')).toBe('2029-03-01T00:00:00.000Z');
    expect(['1 yr', '3 years', '10 Years', '1 calendar year'].map(parsePointValidity)).toEqual([
      { months: 12 },
      { months: 36 },
      { months: 120 },
      { months: 12 },
    ]);
    expect(parsePointValidity('11 years')).toBeUndefined();
    expect(parsePointValidity('0 years')).toBeUndefined();
  });

  it('given a fixed duration, then it runs from the credit instant exactly', () => {
    expect(lotExpiresAt('2026-08-31T10:00:00Z', '30s', 'UTC')).toBe('2026-08-31T10:00:30.000Z');
    expect(lotExpiresAt('2026-08-31T10:00:00Z', '90 days', 'Asia/Kolkata')).toBe('2026-11-29T10:00:00.000Z');
  });

  it('given validities and zones it does not accept, then they are refused', () => {
    expect(parsePointValidity('0 months')).toBeUndefined();
    expect(parsePointValidity('121 months')).toBeUndefined();
    expect(parsePointValidity('300000 years')).toBeUndefined();
    expect(parsePointValidity('soon')).toBeUndefined();
    expect(parsePointValidity('6 Calendar Months')).toEqual({ months: 6 });
    expect(isTimeZone('Asia/Kolkata')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(() => lotExpiresAt('2026-08-31T10:00:00Z', '6 months', 'Mars/Olympus')).toThrow(/time zone/i);
  });
});
