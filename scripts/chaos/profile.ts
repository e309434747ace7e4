/**
 * The programme the run drives: every term in seconds, so a run of minutes sees claims expire, windows close,
 * holds pass, milestones close and lots expire. The grace is longer than the worst delivery delay the faults
 * cause (the relay takes up an event 30 s after it was accepted, plus restarts): a fact reported inside the grace
 * must count even when our own outage delayed it.
 */
export interface Profile {
  name: 'short' | 'long';
  referralExpiryMs: number;
  qualificationWindowMs: number;
  rewardHoldMs: number;
  lateEventGraceMs: number;
  milestoneWindowMs: number;
  pointValidityMs: number;
  decisionWindowMs: number;
  /** how long after its last deadline and grace a referral may take to close before it counts as stuck */
  settleMs: number;
  minSpend: number;
  referrerPoints: number;
  milestone: { orders: number; points: number };
  voucherAmount: number;
  /** the admin credit every referrer starts with: long-lived, so redemptions have points to take */
  startingCredit: number;
  pgOutageMs: number;
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

export function profileFor(name: Profile['name'], pgOutageMs: number, graceMs = 90_000): Profile {
  const common = {
    minSpend: 50_000,
    referrerPoints: 300,
    milestone: { orders: 3, points: 200 },
    voucherAmount: 5_000,
    startingCredit: 1_000,
    pgOutageMs,
  };
  if (name === 'short') {
    return {
      name,
      referralExpiryMs: 8_000,
      qualificationWindowMs: 10_000,
      rewardHoldMs: 3_000,
      lateEventGraceMs: graceMs,
      milestoneWindowMs: 16_000,
      pointValidityMs: 20_000,
      decisionWindowMs: 10_000,
      settleMs: 45_000,
      ...common,
    };
  }
  return {
    name,
    referralExpiryMs: 30_000,
    qualificationWindowMs: 30_000,
    rewardHoldMs: 8_000,
    lateEventGraceMs: graceMs,
    milestoneWindowMs: 45_000,
    pointValidityMs: 60_000,
    decisionWindowMs: 30_000,
    settleMs: 90_000,
    ...common,
  };
}

/**
 * The version the run publishes mid-way and moves open referrals to: longer windows (the claim's expiry and the
 * qualification window), everything else as before, so a moved referral's end differs from its unmoved one only where
 * its window does (an order after the old window, a fact reported past the old window's grace). Referrals started
 * after it is published run under it from the start.
 */
export function secondVersion(p: Profile): Profile {
  return { ...p, referralExpiryMs: 2 * p.referralExpiryMs, qualificationWindowMs: 3 * p.qualificationWindowMs };
}

/** The programme terms as the API takes them. */
export function programTerms(p: Profile): Record<string, unknown> {
  return {
    referralExpiry: seconds(p.referralExpiryMs),
    qualificationWindow: seconds(p.qualificationWindowMs),
    minOrders: 1,
    minSpend: p.minSpend,
    rewardHold: seconds(p.rewardHoldMs),
    lateEventGrace: seconds(p.lateEventGraceMs),
    // valid long past the run: a completed referral's unused voucher stays active, a failed one's is void
    refereeVoucher: { amount: p.voucherAmount, validFor: '1 day' },
    referrerPoints: p.referrerPoints,
    milestone: { orders: p.milestone.orders, window: seconds(p.milestoneWindowMs), points: p.milestone.points },
    pointValidity: seconds(p.pointValidityMs),
    review: {
      flagsToReview: 2,
      decisionWindow: seconds(p.decisionWindowMs),
      // HIGH_VELOCITY would flag every referrer of a busy run; the flagged scenarios bring their own two flags
      velocityLimit: 10_000,
      velocityWindow: '1 hour',
    },
    // one tier: a completion pays the same whatever number of completions ran before it, in whichever order
    tiers: [{ name: 'BASE', minCompleted: 0, multiplier: 1 }],
  };
}
