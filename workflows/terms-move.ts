import { addDuration } from './durations';
import {
  DEFAULT_REFERRAL_TERMS,
  isTerminal,
  reviewTerms,
  rewardTerms,
  tierTerms,
  type ProgramSnapshot,
  type ReferralDeadlines,
  type ReferralStatus,
  type ReferralTerms,
} from './shared';

/**
 * Moving an open referral to another version of its programme (DESIGN §4). One rule decides it, for the dry run and
 * for the move itself, so what the dry run says is what the move does:
 *
 * - only an open referral (pending, registered, under review, qualified) of the same programme moves; to the version
 *   it already runs under it is unchanged;
 * - each running deadline is counted again from its anchor with the new terms (the expiry from the claim, the
 *   qualification window from the registration, the hold from the qualification), but never before a deadline an admin
 *   set by extension;
 * - a deadline is decided once its grace has passed after it (the grace of the terms in force); a move never brings a
 *   decision that is still ahead to an instant already past, whether by an earlier deadline or a shorter grace, so a
 *   fact that happened in time and is reported within the grace it was promised still counts;
 * - once the current stage's deadline and grace have passed, its decision is due: the stage is not reopened;
 * - a qualified referral stays qualified: terms its counted orders would not meet are refused for it;
 * - the review's decision instant stays (it was granted to an admin); the rewards, the review rule, the tiers and the
 *   grace of the new terms apply from the move on (a voucher already issued stays as it is).
 */

export const TERMS_MOVE_REFUSALS = {
  ended: 'ended',
  otherProgramme: 'other_programme',
  sameVersion: 'same_version',
  windowPastNewEnd: 'window_past_new_end',
  stageDecided: 'stage_decided',
  wouldLoseQualification: 'would_lose_qualification',
} as const;
export type TermsMoveRefusal = (typeof TERMS_MOVE_REFUSALS)[keyof typeof TERMS_MOVE_REFUSALS];

/**
 * Which referrals a move takes: the ids given, or else the programme's open referrals; either way only those matching
 * the status, version and creation range given.
 */
export interface TermsMoveSelection {
  referralIds?: string[] | undefined;
  status?: ReferralStatus | undefined;
  fromVersion?: number | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

/** What a move needs to know of a referral as it is now. */
export interface TermsMoveSubject {
  programId: string;
  programVersion: number;
  terms: ReferralTerms;
  status: ReferralStatus;
  createdAt: string;
  registeredAt: string | null;
  qualifiedAt: string | null;
  deadlines: ReferralDeadlines;
  /** deadlines an admin extended: a move never brings one before the instant the admin set */
  extended: Partial<ReferralDeadlines>;
  /** the late-event grace in force (`0` for referrals that decide at their deadlines) */
  grace: string;
}

export interface DeadlineChange {
  deadline: keyof ReferralDeadlines;
  from: string | null;
  to: string | null;
}

export interface TermChange {
  term: keyof ReferralTerms;
  from: unknown;
  to: unknown;
}

export type TermsMovePlan =
  | {
      outcome: 'move';
      fromVersion: number;
      toVersion: number;
      /** the deadlines as they are, and as the move makes them */
      before: ReferralDeadlines;
      deadlines: ReferralDeadlines;
      qualifiedAt: string | null;
      changes: {
        deadlines: DeadlineChange[];
        terms: TermChange[];
        qualifiedAt?: { from: string | null; to: string | null } | undefined;
      };
    }
  | {
      outcome: 'refused';
      fromVersion: number;
      toVersion: number;
      before: ReferralDeadlines;
      code: TermsMoveRefusal;
      reason: string;
    };

/** When the referral's counted orders meet the given criteria inside the window ending at `qualifyBy`, or null. */
export type QualifiedAtUnder = (criteria: { minOrders: number; minSpend: number; qualifyBy: string }) => string | null;

const later = (a: string, b: string | null | undefined): string => (b && Date.parse(b) > Date.parse(a) ? b : a);

export function planTermsMove(
  subject: TermsMoveSubject,
  to: ProgramSnapshot,
  nowMs: number,
  qualifiedAtUnder: QualifiedAtUnder,
  /** the grace the referral will decide with under the new terms */
  newGrace: string,
): TermsMovePlan {
  const versions = { fromVersion: subject.programVersion, toVersion: to.version, before: { ...subject.deadlines } };
  const refuse = (code: TermsMoveRefusal, reason: string): TermsMovePlan => ({
    outcome: 'refused',
    ...versions,
    code,
    reason,
  });
  if (isTerminal(subject.status)) return refuse('ended', `the referral has ended as ${subject.status}`);
  if (to.id !== subject.programId)
    return refuse('other_programme', `the referral belongs to programme ${subject.programId}, not ${to.id}`);
  if (to.version === subject.programVersion)
    return refuse('same_version', `the referral already runs under version ${to.version}`);

  const terms = to.terms;
  const deadlines: ReferralDeadlines = { ...subject.deadlines };
  const recount = (deadline: keyof ReferralDeadlines, anchor: string, term: string, allowZero = false) => {
    deadlines[deadline] = later(addDuration(anchor, term, { allowZero }), subject.extended[deadline]);
  };
  let qualifiedAt = subject.qualifiedAt;
  if (subject.status === 'pending') recount('expiresAt', subject.createdAt, terms.referralExpiry);
  if (subject.registeredAt && subject.deadlines.qualifyBy)
    recount('qualifyBy', subject.registeredAt, terms.qualificationWindow);
  if (subject.status === 'qualified') {
    qualifiedAt = qualifiedAtUnder({
      minOrders: terms.minOrders,
      minSpend: terms.minSpend,
      qualifyBy: deadlines.qualifyBy!,
    });
    if (qualifiedAt === null)
      return refuse(
        'would_lose_qualification',
        `the counted orders do not meet the new criteria (${terms.minOrders} orders, ${terms.minSpend} spent by ${deadlines.qualifyBy})`,
      );
    recount('holdUntil', qualifiedAt, terms.rewardHold, true);
  }

  const decides = (deadline: string | null, grace: string): number | null =>
    deadline === null ? null : Date.parse(addDuration(deadline, grace, { allowZero: true }));
  const stage = STAGE_DEADLINE[subject.status];
  const stageDecides = stage ? decides(subject.deadlines[stage], subject.grace) : null;
  if (stageDecides !== null && stageDecides <= nowMs)
    return refuse(
      'stage_decided',
      `the ${stage} deadline ${subject.deadlines[stage!]} and its grace have passed: the stage is being decided`,
    );
  const changed: DeadlineChange[] = [];
  for (const deadline of ['expiresAt', 'qualifyBy', 'holdUntil'] as const) {
    const from = subject.deadlines[deadline];
    const next = deadlines[deadline];
    const before = decides(from, subject.grace);
    const after = decides(next, newGrace);
    if (before !== null && after !== null && before > nowMs && after < before && after <= nowMs)
      return refuse(
        'window_past_new_end',
        `${deadline} would be decided at ${new Date(after).toISOString()} (${next} plus a grace of ${newGrace}), which has passed: a move never cuts a window to an end already past`,
      );
    if (from !== next) changed.push({ deadline, from, to: next });
  }
  return {
    outcome: 'move',
    ...versions,
    deadlines,
    qualifiedAt,
    changes: {
      deadlines: changed,
      terms: termChanges(subject.terms, terms),
      ...(qualifiedAt !== subject.qualifiedAt ? { qualifiedAt: { from: subject.qualifiedAt, to: qualifiedAt } } : {}),
    },
  };
}

/** The deadline that ends each open stage; under review the admin's decideBy ends it, which a move never changes. */
const STAGE_DEADLINE: Partial<Record<ReferralStatus, keyof ReferralDeadlines>> = {
  pending: 'expiresAt',
  registered: 'qualifyBy',
  qualified: 'holdUntil',
};

/** The terms that differ between two versions, by name, each with its defaults filled in (as the referral runs it). */
export function termChanges(fromTerms: ReferralTerms, toTerms: ReferralTerms): TermChange[] {
  const from = filled(fromTerms);
  const to = filled(toTerms);
  const names = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort() as Array<keyof ReferralTerms>;
  return names
    .filter((term) => canonical(from[term] ?? null) !== canonical(to[term] ?? null))
    .map((term) => ({ term, from: from[term] ?? null, to: to[term] ?? null }));
}

const filled = (terms: ReferralTerms): ReferralTerms => ({
  ...DEFAULT_REFERRAL_TERMS,
  ...terms,
  ...rewardTerms(terms),
  review: reviewTerms(terms),
  tiers: tierTerms(terms),
});

/** JSON with object keys sorted: stored terms come back from PostgreSQL with their keys in its own order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}
