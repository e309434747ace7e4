import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { pointsAt, tierOf } from '../../scripts/chaos/model/tiers';
import { MAX_POINTS } from '../../api/points';
import { creditedPoints, DEFAULT_TIERS, tierFor, type Tier } from '../../workflows/shared';
import { assertProperty, timeoutFor } from './settings';

/** What a programme may state (README "Tiers"): 1 to 10 tiers, thresholds unique, multipliers in hundredths up to 100. */
const multiplierArb = fc.oneof(
  fc.integer({ min: 1, max: 10_000 }).map((h) => h / 100),
  fc.constantFrom(0.01, 0.29, 0.57, 1, 1.1, 1.15, 1.25, 1.5, 2.01, 3, 99.99, 100),
);
const tiersArb = fc
  .uniqueArray(fc.oneof(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1_000_000 })), {
    minLength: 1,
    maxLength: 10,
  })
  .chain((thresholds) =>
    fc.tuple(
      fc.constant(thresholds),
      fc.array(multiplierArb, { minLength: thresholds.length, maxLength: thresholds.length }),
      fc.boolean(),
    ),
  )
  .map(([thresholds, multipliers, fromZero]): Tier[] => {
    const tiers = thresholds.map((minCompleted, i) => ({ name: `T${i}`, minCompleted, multiplier: multipliers[i]! }));
    // A programme's ladder starts at 0; versions may still hand the function one that does not.
    if (fromZero && !tiers.some((t) => t.minCompleted === 0)) tiers[0] = { ...tiers[0]!, minCompleted: 0 };
    return tiers;
  });

const RUNS = 500;
// A long run (PROPERTY_RUNS) gets the time it needs.
vi.setConfig({ testTimeout: timeoutFor(RUNS * 3, 5) });

describe('tiers against the reference model', () => {
  it('given any ladder in any order and any count of completions, when the tier is found, then it is the highest reached and the next is the lowest ahead, as the model says', () => {
    assertProperty(
      fc.property(
        fc.oneof(tiersArb, fc.constant([...DEFAULT_TIERS])),
        fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 2_000_000 })),
        (tiers, completed) => {
          expect(tierFor(tiers, completed)).toEqual(tierOf(tiers, completed));
        },
      ),
      RUNS,
    );
  });

  it('given points a programme may pay and a multiplier in hundredths, when multiplied, then the credit is the exact product rounded down, at least one point', () => {
    assertProperty(
      fc.property(
        fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: MAX_POINTS })),
        multiplierArb,
        (points, multiplier) => {
          expect(creditedPoints(points, multiplier)).toBe(pointsAt(points, multiplier));
        },
      ),
      RUNS,
    );
  });

  it('given any two multipliers and point amounts, then the credit never falls when either grows (so a ladder whose highest tier fits pays what the ledger holds at every tier)', () => {
    assertProperty(
      fc.property(
        fc.integer({ min: 1, max: MAX_POINTS }),
        fc.integer({ min: 0, max: 1_000 }),
        multiplierArb,
        multiplierArb,
        (points, more, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(creditedPoints(points, low)).toBeLessThanOrEqual(creditedPoints(points, high));
          expect(creditedPoints(points, low)).toBeLessThanOrEqual(creditedPoints(points + more, low));
        },
      ),
      RUNS,
    );
  });
});
