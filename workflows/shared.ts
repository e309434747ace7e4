/**
 * Names and shapes shared by the API, the worker and the workflow, so the processes cannot drift on a string.
 * Pure types and constants only: the workflow bundle imports this file.
 */

export const TASK_QUEUE = 'referrals';

/** One referral, one workflow: the id an operator searches for in the Temporal UI. */
export const referralWorkflowId = (referralId: string): string => `referral-${referralId}`;

export const REFERRAL_STATUSES = [
  'pending',
  'registered',
  'under_review',
  'qualified',
  'completed',
  'expired',
  'rejected',
  'cancelled',
] as const;
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number];

export const TERMINAL_STATUSES: readonly ReferralStatus[] = ['completed', 'expired', 'rejected', 'cancelled'];
export const isTerminal = (status: ReferralStatus): boolean => TERMINAL_STATUSES.includes(status);

/** Programme terms as a referral sees them: durations stay readable strings (`30 days`, `5s`). */
export interface ReferralTerms {
  /** pending must reach registered within this, counted from the claim */
  referralExpiry: string;
  /** registered must reach qualified within this, counted from the signup */
  qualificationWindow: string;
  minOrders: number;
  /** completed spend needed inside the window, in minor units of the programme currency */
  minSpend: number;
  /** refund / clawback window between qualified and completed */
  rewardHold: string;
  /**
   * How long after a deadline the referral still takes facts that happened before it (`0` allowed). Versions
   * published before this term existed leave it out: they run with the default.
   */
  lateEventGrace?: string | undefined;
  /**
   * The rewards (DESIGN §3). Versions published before these terms existed leave them out: they run with the
   * defaults (REFERRAL_REWARD_DEFAULTS), any part left out of one takes its default.
   */
  /** the referee's voucher, issued at registration: minor units of the programme currency, valid this long */
  refereeVoucher?: { amount?: number | undefined; validFor?: string | undefined } | undefined;
  /** points credited to the referrer when the referral completes (times the tier multiplier, 1 until tiers exist) */
  referrerPoints?: number | undefined;
  /** bonus points at the referee's `orders`-th completed order within `window` of registration */
  milestone?: { orders?: number | undefined; window?: string | undefined; points?: number | undefined } | undefined;
  /** how long a credited lot stays valid: calendar months (`6 months`) or a duration (`30s`) */
  pointValidity?: string | undefined;
  /** IANA zone where calendar months of point validity are counted */
  timeZone?: string | undefined;
  /**
   * Fraud review (DESIGN §4, §5.3): with `flagsToReview` fraud flags a registration waits for an admin, who has
   * `decisionWindow` to decide; HIGH_VELOCITY is more than `velocityLimit` referrals by one referrer in `velocityWindow`.
   */
  /** referrer tiers by completed referrals (DESIGN §3); versions that leave them out run with DEFAULT_TIERS */
  tiers?: Array<{ name: string; minCompleted: number; multiplier: number }> | undefined;
  review?:
    | {
        flagsToReview?: number | undefined;
        decisionWindow?: string | undefined;
        velocityLimit?: number | undefined;
        velocityWindow?: string | undefined;
      }
    | undefined;
}

/** DESIGN §3's rewards, for terms that leave any of them out. */
export const REFERRAL_REWARD_DEFAULTS = {
  refereeVoucher: { amount: 5_000, validFor: '30 days' },
  referrerPoints: 2_000,
  milestone: { orders: 3, window: '90 days', points: 200 },
  pointValidity: '6 months',
  timeZone: 'UTC',
} as const;

/** The reward terms of a referral, each part defaulted. */
export function rewardTerms(terms: ReferralTerms) {
  const d = REFERRAL_REWARD_DEFAULTS;
  return {
    refereeVoucher: {
      amount: terms.refereeVoucher?.amount ?? d.refereeVoucher.amount,
      validFor: terms.refereeVoucher?.validFor ?? d.refereeVoucher.validFor,
    },
    referrerPoints: terms.referrerPoints ?? d.referrerPoints,
    milestone: {
      orders: terms.milestone?.orders ?? d.milestone.orders,
      window: terms.milestone?.window ?? d.milestone.window,
      points: terms.milestone?.points ?? d.milestone.points,
    },
    pointValidity: terms.pointValidity ?? d.pointValidity,
    timeZone: terms.timeZone ?? d.timeZone,
  };
}

/** A referrer's tier: reached at `minCompleted` completed referrals; the referrer's points are multiplied by it. */
export interface Tier {
  name: string;
  minCompleted: number;
  multiplier: number;
}

/** DESIGN §3's tiers, for terms that leave them out. */
export const DEFAULT_TIERS: readonly Tier[] = [
  { name: 'STARTER', minCompleted: 0, multiplier: 1 },
  { name: 'PRO', minCompleted: 5, multiplier: 1.25 },
  { name: 'ELITE', minCompleted: 15, multiplier: 1.5 },
  { name: 'CHAMPION', minCompleted: 30, multiplier: 2 },
  { name: 'LEGEND', minCompleted: 50, multiplier: 3 },
];

/** The tiers of a referral's terms, lowest first. */
export const tierTerms = (terms: ReferralTerms): Tier[] =>
  [...(terms.tiers ?? DEFAULT_TIERS)].sort((a, b) => a.minCompleted - b.minCompleted);

/**
 * The tier of a referrer with `completed` completed referrals, and the next one. Below the lowest tier's threshold
 * (a programme whose first tier starts above 0) the multiplier is 1.
 */
export function tierFor(tiers: readonly Tier[], completed: number): { tier: Tier; next: Tier | null } {
  const sorted = [...tiers].sort((a, b) => a.minCompleted - b.minCompleted);
  let tier: Tier = { name: 'NONE', minCompleted: 0, multiplier: 1 };
  let next: Tier | null = null;
  for (const candidate of sorted) {
    if (candidate.minCompleted <= completed) tier = candidate;
    else {
      next = candidate;
      break;
    }
  }
  return { tier, next };
}

/**
 * Points times a tier's multiplier, rounded down to whole points (DESIGN §3), never below one (a lot holds at least a
 * point). Multipliers are in hundredths, so the product is taken in integers: 100 × 0.29 is 29, not 28.999….
 */
export const creditedPoints = (points: number, multiplier: number): number =>
  Math.max(1, Math.floor((points * Math.round(multiplier * 100)) / 100));

/** DESIGN §5.3's review terms, for terms that leave any of them out. */
export const REVIEW_DEFAULTS = {
  flagsToReview: 2,
  decisionWindow: '14 days',
  velocityLimit: 10,
  velocityWindow: '24 hours',
} as const;

/** The fraud review terms of a referral, each part defaulted. */
export function reviewTerms(terms: ReferralTerms) {
  const d = REVIEW_DEFAULTS;
  return {
    flagsToReview: terms.review?.flagsToReview ?? d.flagsToReview,
    decisionWindow: terms.review?.decisionWindow ?? d.decisionWindow,
    velocityLimit: terms.review?.velocityLimit ?? d.velocityLimit,
    velocityWindow: terms.review?.velocityWindow ?? d.velocityWindow,
  };
}

/** The referee's voucher as the referral issued it. */
export interface IssuedVoucher {
  code: string;
  amount: number;
  currency: string;
  expiresAt: string;
}

/** A lot of points the referral asked for: its workflow credits it (and holds its expiry). */
export interface RequestedLot {
  points: number;
  lotWorkflowId: string;
  creditKey: string;
  creditedAt: string;
  expiresAt: string;
}

/**
 * The timeline entry of the referee's voucher issued with the registration it follows: written in the same
 * transaction, at the same instant, as the next seq. The workflow and the projection build it the same way.
 */
export const voucherIssuedEntry = (registered: TimelineEntry, voucher: IssuedVoucher): TimelineEntry => ({
  seq: registered.seq + 1,
  at: registered.at,
  kind: 'voucher_issued',
  status: registered.status,
  detail: { ...voucher },
});

/**
 * The timeline entry of counted orders and spend that changed without a status change: written in the task that
 * counted them, by a decision that task may not keep (a lost task's entry gives way to its retry's).
 */
export const COUNTED_PROGRESS = 'orders_counted';

/** The rewards a referral has given so far; each null until given. */
export interface ReferralRewards {
  voucher: IssuedVoucher | null;
  referrerPoints: RequestedLot | null;
  milestone: RequestedLot | null;
}

/** The programme version in force when the referral started; history keeps it, so edits never reach it. */
export interface ProgramSnapshot {
  id: string;
  version: number;
  currency: string;
  terms: ReferralTerms;
}

export interface ClaimContext {
  /** fraud signals found when the claim was made */
  flags?: string[] | undefined;
  channel?: string | undefined;
  invitee?: { email?: string | undefined; phone?: string | undefined } | undefined;
  context?: { ip?: string | undefined; deviceId?: string | undefined } | undefined;
}

export interface ReferralInput {
  referralId: string;
  program: ProgramSnapshot;
  code: string;
  referrerId: string;
  /** RFC 3339 business time the referral was created (the claim, or the signup that created it) */
  createdAt: string;
  /**
   * `claim`: a code was presented before signup, the referral is pending.
   * `signup`: the signup itself creates the referral; it exists only once that registration is accepted.
   */
  origin: 'claim' | 'signup';
  claim?: ClaimContext | undefined;
  /** State handed over by continue-as-new. */
  carried?: CarriedReferral | undefined;
  /** History length after which the workflow continues as new even before the server suggests it. */
  historyEventLimit?: number | undefined;
}

export interface SignupFacts {
  eventId: string;
  refereeId: string;
  email?: string | undefined;
  phone?: string | undefined;
  /** RFC 3339 business time of the signup: the registration instant */
  occurredAt: string;
  context?: { ip?: string | undefined; deviceId?: string | undefined } | undefined;
  /** fraud signals found at signup (the claim's and the signup's facts together) */
  flags?: string[] | undefined;
}

export const ORDER_STATUSES = ['placed', 'completed', 'cancelled', 'refunded'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export interface OrderFacts {
  eventId: string;
  orderId: string;
  status: OrderStatus;
  /** integer minor units */
  amount: number;
  currency: string;
  /** RFC 3339 business time of this status change */
  occurredAt: string;
  /**
   * When the intake accepted the event (its 202): lateness is judged by when a fact was reported, not by when its
   * workflow got it, so an outage of ours between the two never makes it late. Absent from events sent before it.
   */
  reportedAt?: string | undefined;
}

export interface CancelRequest {
  actor: string;
  reason?: string | undefined;
  /** the admin request's idempotency key (absent from cancels sent before admin actions had one) */
  requestId?: string | undefined;
}

/** An admin's decision or change, once per `requestId`, by `actor` (the API key's name). */
export interface AdminRequest {
  requestId: string;
  actor: string;
  reason?: string | undefined;
}

/** Moves the current stage's deadline later: by a duration, or to an instant (exactly one). */
export interface ExtendRequest extends AdminRequest {
  by?: string | undefined;
  until?: string | undefined;
}

/** Moves an open referral to another version of its programme (workflows/terms-move.ts says when it may). */
export interface TermsMoveRequest extends AdminRequest {
  program: ProgramSnapshot;
}

/** What an admin action did, as the audit log keeps it: the referral before and after. */
export interface AdminActionRecord {
  requestId: string;
  action: 'approve' | 'reject' | 'cancel' | 'extend' | 'move';
  referralId: string;
  actor: string;
  reason: string | null;
  at: string;
  before: AdminActionView;
  after: AdminActionView;
}

/** The referral as the audit log shows it around an action (the programme version is absent from older entries). */
export interface AdminActionView {
  status: ReferralStatus;
  deadlines: ReferralDeadlines;
  review: { decideBy: string } | null;
  programVersion?: number | undefined;
  qualifiedAt?: string | null | undefined;
}

export interface ReferralDeadlines {
  /** pending must register by then */
  expiresAt: string | null;
  /** registered must qualify by then (inclusive) */
  qualifyBy: string | null;
  /** qualified completes then, unless a refund breaks the criteria first */
  holdUntil: string | null;
}

export interface TimelineEntry {
  /** position in this referral's timeline; also the projection's idempotency key */
  seq: number;
  /** workflow time the entry was written */
  at: string;
  kind: string;
  status: ReferralStatus;
  detail?: Record<string, unknown> | undefined;
}

export interface CountedOrder {
  orderId: string;
  amount: number;
  occurredAt: string;
}

/** What the workflow knows right now; answered by the `state` query and returned by updates. */
export interface ReferralSnapshot {
  referralId: string;
  status: ReferralStatus;
  programId: string;
  programVersion: number;
  currency: string;
  code: string;
  referrerId: string;
  refereeId: string | null;
  createdAt: string;
  registeredAt: string | null;
  qualifiedAt: string | null;
  completedAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  deadlines: ReferralDeadlines;
  /**
   * When the current stage's deadline is decided: the deadline plus the programme's late-event grace, during which
   * facts dated up to the deadline still count. Null once the referral has ended; absent from older snapshots.
   */
  graceEndsAt?: string | null | undefined;
  terms: ReferralTerms;
  progress: { countedOrders: number; countedSpend: number; minOrders: number; minSpend: number };
  countedOrders: CountedOrder[];
  /** the most recent entries; the whole timeline is in the database */
  recentTimeline: TimelineEntry[];
  /** rewards given so far (absent from referrals started before rewards existed) */
  rewards?: ReferralRewards | undefined;
  /** after completion, the milestone's count: until when, how many orders of how many (absent before it runs) */
  milestone?: { by: string; countedOrders: number; orders: number; outcome: 'reached' | 'missed' | null } | undefined;
  /** fraud signals found at claim and signup (absent from referrals started before the review existed) */
  flags?: string[] | undefined;
  /** while under review: when the admin's decision is due; null otherwise (absent before the review existed) */
  review?: { decideBy: string } | null | undefined;
}

export interface OrderRecord {
  orderId: string;
  status: OrderStatus;
  amount: number;
  currency: string;
  /** epoch ms of the status change that is the order's latest */
  occurredAtMs: number;
  /** epoch ms the intake accepted the event, where known (kept in the order's history) */
  reportedAtMs?: number | undefined;
}

export interface CarriedReferral {
  status: ReferralStatus;
  seq: number;
  refereeId: string | null;
  registration: { eventId: string; registeredAt: string } | null;
  qualifiedAt: string | null;
  completedAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  deadlines: ReferralDeadlines;
  orders: OrderRecord[];
  /** every status each order went through (absent in runs carried over before it was kept) */
  orderHistory?: OrderRecord[] | undefined;
  recentTimeline: TimelineEntry[];
  /** counted orders/spend as last projected (absent in runs carried over before it was added) */
  projectedProgress?: string | undefined;
  /** order events dated after a deadline whose grace was running, waiting for its decision */
  heldBackOrders?: OrderFacts[] | undefined;
  /** order events reported after the window's grace, not yet on the timeline */
  lateOrders?: OrderFacts[] | undefined;
  rewards?: ReferralRewards | undefined;
  /** the milestone's deadline and outcome, once the referral completed */
  milestone?: { by: string; outcome: 'reached' | 'missed' | null } | undefined;
  /** late events already on the timeline (absent in runs carried over before it was added) */
  lateEventIds?: string[] | undefined;
  /** order events late for the qualification window, kept for the milestone, which counts them */
  lateWindowOrders?: OrderFacts[] | undefined;
  flags?: string[] | undefined;
  review?: { decideBy: string } | null | undefined;
  /** admin requests applied, as `action:requestId` (a repeat is answered, not applied again) */
  adminRequestsApplied?: string[] | undefined;
  /** an admin's extension of the reward hold, which a moved hold never comes before */
  holdFloor?: string | null | undefined;
  /**
   * Order events were taken since the last projection write and may have moved the count in a task that was lost:
   * the next run asserts the count shown (correctLostProgress). Absent in runs carried over before it was kept.
   */
  progressUnconfirmed?: boolean | undefined;
  /** the instant of the last projection write, a correction's too: the next write's is never earlier */
  lastWriteAt?: string | undefined;
  /** the expiry and the qualification window as an admin extended them: a move to new terms never cuts them */
  extendedDeadlines?: Partial<ReferralDeadlines> | undefined;
}

/** Stable failure types the API maps to problem+json codes. */
export const REFUSALS = {
  selfReferral: 'self_referral',
  alreadyReferred: 'already_referred',
  notPending: 'referral_not_pending',
  /** another signup's registration is being checked right now: worth retrying, not a final answer */
  registrationInProgress: 'registration_in_progress',
  closed: 'referral_closed',
  invalidTransition: 'invalid_transition',
} as const;

/**
 * Activity failures that retrying cannot fix, by the named type activities give them (non-retryable), and the type
 * a referral stopped by one fails with.
 */
export const FAULTS = {
  /** PostgreSQL class 22: a value the column cannot hold */
  databaseData: 'database_data_error',
  /** class 23: a constraint the write would break, and always will */
  databaseIntegrity: 'database_integrity_violation',
  /** class 42: the statement does not fit the schema (an undefined column or table) */
  databaseSchema: 'database_schema_error',
  /** a referral stopped by one of the above */
  referralFault: 'referral_fault',
} as const;

/** The seed programme's terms (DESIGN §3); a programme version overrides any of them. */
export const DEFAULT_REFERRAL_TERMS: ReferralTerms = {
  referralExpiry: '90 days',
  qualificationWindow: '30 days',
  minOrders: 1,
  minSpend: 50_000,
  rewardHold: '7 days',
  lateEventGrace: '5 minutes',
};
