import { describe, expect, it } from 'vitest';
import { creditedPoints, DEFAULT_TIERS, tierFor } from '../../workflows/shared';

describe('referrer tiers', () => {
  it('given the default tiers, then each threshold starts its tier and the completion count before it keeps the one below', () => {
    const at = (completed: number) => tierFor(DEFAULT_TIERS, completed);
    expect(at(0)).toMatchObject({ tier: { name: 'STARTER', multiplier: 1 }, next: { name: 'PRO', minCompleted: 5 } });
    expect(at(4).tier.name).toBe('STARTER');
    expect(at(5).tier).toMatchObject({ name: 'PRO', multiplier: 1.25 });
    expect(at(14).tier.name).toBe('PRO');
    expect(at(15).tier).toMatchObject({ name: 'ELITE', multiplier: 1.5 });
    expect(at(30).tier).toMatchObject({ name: 'CHAMPION', multiplier: 2 });
    expect(at(49).tier.name).toBe('CHAMPION');
    expect(at(50)).toMatchObject({ tier: { name: 'LEGEND', multiplier: 3 }, next: null });
  });

  it('given a programme’s own tiers in any order, starting above zero, then below the first the multiplier is 1', () => {
    const tiers = [
      { name: 'GOLD', minCompleted: 10, multiplier: 2 },
      { name: 'SILVER', minCompleted: 3, multiplier: 1.5 },
    ];
    expect(tierFor(tiers, 2)).toMatchObject({ tier: { multiplier: 1 }, next: { name: 'SILVER' } });
    expect(tierFor(tiers, 3).tier.name).toBe('SILVER');
    expect(tierFor(tiers, 10)).toMatchObject({ tier: { name: 'GOLD' }, next: null });
  });

  it('given multipliers in hundredths, then points × multiplier is exact before it is rounded down', () => {
    const credit = creditedPoints;
    expect(Math.floor(100 * 0.29)).toBe(28);
    expect(credit(100, 0.29)).toBe(29);
    expect(credit(2000, 1.15)).toBe(2300);
    expect(credit(333, 1.25)).toBe(416);
    expect(credit(1, 0.5)).toBe(1);
  });
});
