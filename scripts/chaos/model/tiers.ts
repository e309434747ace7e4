/**
 * Reference model of referrer tiers (DESIGN §3, README "Tiers"): a referrer with `completed` completed referrals is in
 * the highest tier whose threshold they reached (below every threshold: multiplier 1), and the next tier is the lowest
 * one still ahead. A completion pays the referral's points times the multiplier of the tier the earlier completions
 * reached, in whole points rounded down and never below one. Multipliers are hundredths, so the product is exact.
 *
 *   tierOf(tiers, completed) -> { tier, next }
 *   pointsAt(points, multiplier) -> number
 */

export interface ModelTier {
  name: string;
  minCompleted: number;
  multiplier: number;
}

export function tierOf(tiers: readonly ModelTier[], completed: number): { tier: ModelTier; next: ModelTier | null } {
  const reached = tiers.filter((t) => t.minCompleted <= completed);
  const ahead = tiers.filter((t) => t.minCompleted > completed);
  const highest = reached.reduce<ModelTier | null>((h, t) => (h && h.minCompleted >= t.minCompleted ? h : t), null);
  const lowestAhead = ahead.reduce<ModelTier | null>((l, t) => (l && l.minCompleted <= t.minCompleted ? l : t), null);
  return { tier: highest ?? { name: 'NONE', minCompleted: 0, multiplier: 1 }, next: lowestAhead };
}

/** The multiplier in hundredths, read from its decimal text (at most two places, as programmes state it). */
function hundredthsOf(multiplier: number): bigint {
  const [whole = '0', fraction = ''] = String(multiplier).split('.');
  if (fraction.length > 2 || String(multiplier).includes('e')) {
    throw new RangeError(`a multiplier in hundredths, not ${multiplier}`);
  }
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0'));
}

export function pointsAt(points: number, multiplier: number): number {
  const product = (BigInt(points) * hundredthsOf(multiplier)) / 100n;
  return Number(product < 1n ? 1n : product);
}
