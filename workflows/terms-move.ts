import { addDuration } from './durations';
import {
  isTerminal,
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
 * - a deadline may move earlier only to an instant still ahead: a window is never cut to an end already past;
 * - a qualified referral stays qualified: terms its counted orders would not meet are refused for it;
 * - the review's decision instant stays (it was granted to an admin); the rewards, the review rule, the tiers and the
 *   grace of the new terms apply from the move on (a voucher already issued stays as it is).
 */

export const TERMS_MOVE_REFUSALS = {
  ended: 'ended',
  otherProgramme: 'other_programme',
  sameVersion: 'same_version',
  windowPastNewEnd: 'window_past_new_end',
  wouldLoseQualification: 'would_lose_qualification',
} as const;
export type TermsMoveRefusal = (typeof TERMS_MOVE_REFUSALS)[keyof typeof TERMS_MOVE_REFUSALS];

/** The programme's open referrals a move takes when it is not given their ids. */
export interface TermsMoveFilter {
  statuses?: ReferralStatus[] | undefined;
  fromVersion?: number | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
}

/** Which referrals a move takes: the ids given, or the programme's open referrals matching a filter. */
export type TermsMoveSelection = { referralIds: string[] } | { filter: TermsMoveFilter };

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
      deadlines: ReferralDeadlines;
      qualifiedAt: string | null;
      changes: { deadlines: DeadlineChange[]; terms: TermChange[] };
    }
  | { outcome: 'refused'; fromVersion: number; toVersion: number; code: TermsMoveRefusal; reason: string };

/** When the referral's counted orders meet the given criteria inside the window ending at `qualifyBy`, or null. */
export type QualifiedAtUnder = (criteria: { minOrders: number; minSpend: number; qualifyBy: string }) => string | null;

const later = (a: string, b: string | null | undefined): string => (b && Date.parse(b) > Date.parse(a) ? b : a);

export function planTermsMove(
  subject: TermsMoveSubject,
  to: ProgramSnapshot,
  nowMs: number,
  qualifiedAtUnder: QualifiedAtUnder,
): TermsMovePlan {
  const versions = { fromVersion: subject.programVersion, toVersion: to.version };
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

  const changed: DeadlineChange[] = [];
  for (const deadline of ['expiresAt', 'qualifyBy', 'holdUntil'] as const) {
    const from = subject.deadlines[deadline];
    const next = deadlines[deadline];
    if (from === next) continue;
    if (from && next && Date.parse(next) < Date.parse(from) && Date.parse(next) <= nowMs)
      return refuse(
        'window_past_new_end',
        `${deadline} would move from ${from} to ${next}, which has passed: a move never cuts a window to an end already past`,
      );
    changed.push({ deadline, from, to: next });
  }
  return {
    outcome: 'move',
    ...versions,
    deadlines,
    qualifiedAt,
    changes: { deadlines: changed, terms: termChanges(subject.terms, terms) },
  };
}

/** The terms that differ between two versions, by name. */
export function termChanges(from: ReferralTerms, to: ReferralTerms): TermChange[] {
  const names = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort() as Array<keyof ReferralTerms>;
  return names
    .filter((term) => canonical(from[term] ?? null) !== canonical(to[term] ?? null))
    .map((term) => ({ term, from: from[term] ?? null, to: to[term] ?? null }));
}

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
