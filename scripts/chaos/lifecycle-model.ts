/**
 * The reference model of a referral's life, in plain TypeScript (no Temporal, nothing of the product imported): from
 * what the run sent, when each request was answered, and the programme's terms (DESIGN §3–§5, README "Rules run in
 * business time"), it predicts each referral's final status, its voucher, its referrer's points and milestone, the
 * answers the API owes, and by when everything about it must be settled.
 *
 * Where a fault delayed a request across a deadline the product may rightly answer either way (an admin action that
 * reached the referral only after its window closed); the model then follows the answer and says so
 * (`followedAnswer`), and everything after it is still predicted.
 */
import type { Profile } from './profile';

export type ScenarioKind =
  | 'claim_expires'
  | 'no_orders'
  | 'qualifies'
  | 'refund_in_hold'
  | 'refund_after_hold'
  | 'orders_first'
  | 'late_in_grace'
  | 'late_past_grace'
  | 'after_window'
  | 'cancel'
  | 'reject'
  | 'extend'
  | 'review_approve'
  | 'review_expires'
  | 'review_reject';

export type OrderStatus = 'placed' | 'completed' | 'cancelled' | 'refunded';
export type Status =
  'pending' | 'registered' | 'under_review' | 'qualified' | 'completed' | 'expired' | 'rejected' | 'cancelled';

export interface SentOrder {
  eventId: string;
  orderId: string;
  status: OrderStatus;
  amount: number;
  occurredAtMs: number;
  /** the first 202 of any copy, epoch ms; null when no copy was ever accepted */
  acceptedAtMs: number | null;
  copies: number;
  /** 202 answers with duplicate: false (more than one means the inbox took the event twice) */
  firstAcceptances: number;
}

export interface SentAdmin {
  action: 'approve' | 'reject' | 'cancel' | 'extend';
  requestId: string;
  byMs?: number;
  status: number;
  code: string | null;
  sentAtMs: number;
  answeredAtMs: number;
  copies: number;
  duplicateAnswers: number;
}

/** A move of referrals to other terms (or its dry run) that selected this referral, and what it reported for it. */
export interface SentMove {
  moveId: string;
  dryRun: boolean;
  toVersion: number;
  sentAtMs: number;
  /** when the run saw the move finished: every referral it selected was reached by then */
  finishedAtMs: number;
  /** what GET …/moves/{moveId}/referrals says of this referral; null when it is not listed */
  outcome: 'moved' | 'would_move' | 'unchanged' | 'refused' | null;
  code: string | null;
}

/** The referee's checkout with the voucher they were shown as active: one redemption key (in copies), then another. */
export interface SentVoucher {
  /** null: no active voucher was shown within the run's patience */
  code: string | null;
  /** a copy of the first key took the voucher */
  redeemed: boolean;
  /** each copy's answer under the first key: status, problem code and when it came */
  answers: Array<{ status: number; code: string | null; answeredAtMs: number }>;
  /** when the first copy under the first key left */
  sentAtMs: number;
  /** the second key's answer, sent after the first key's copies were answered */
  otherKey: { status: number; code: string | null } | null;
}

export interface ReferralRecord {
  key: string;
  kind: ScenarioKind;
  referrerId: string;
  refereeId: string;
  flagged: boolean;
  referralId: string | null;
  /**
   * The claim, under its own referral id: a signup made in time but delivered after the claim lapsed (our outage
   * delayed it) starts a referral of its own under the claim's code, and the claim stays expired.
   */
  claim: { referralId: string; createdAtMs: number; expiresAtMs: number } | null;
  signup: {
    eventId: string;
    occurredAtMs: number;
    status: number;
    code: string | null;
    /** when the first copy left: the registration happened between this and the answer */
    sentAtMs: number;
    answeredAtMs: number;
  } | null;
  /** the programme version the referral started under, as the answer that made it said */
  programVersion: number | null;
  /** moves (and dry runs) that selected it, in the order they were sent */
  moves: SentMove[];
  /** a signup naming the claim's referral id, sent after its expiry and grace */
  lateSignup: { status: number; code: string | null } | null;
  orders: SentOrder[];
  admin: SentAdmin[];
  voucher: SentVoucher | null;
  /** the scenario's own steps could not all be sent (the run ended, or a request gave up) */
  incomplete: string | null;
}

export interface Expectation {
  /** null: the run's requests never made a referral (a claim that got no answer) */
  status: Status | null;
  voucher: 'none' | 'active' | 'redeemed' | 'void';
  referrerPoints: number;
  milestone: boolean;
  /** epoch ms by which the referral must have ended and closed, lots credited; stuck if still open well after */
  settledByMs: number;
  /** the version the referral runs under at the end: the one it started under, or the one a move took it to */
  programVersion: number | null;
  /** answers the API gave that the model says it must not have */
  answerMismatches: string[];
  followedAnswer: string[];
}

interface Book {
  status: OrderStatus;
  amount: number;
  occurredAtMs: number;
}

const RANK: Record<OrderStatus, number> = { placed: 0, completed: 1, cancelled: 2, refunded: 3 };

/** An order's latest status by business time; on the same instant, the later stage of an order's life. */
function bookOf(orders: SentOrder[]): Map<string, Book> {
  const book = new Map<string, Book>();
  for (const o of orders) {
    const current = book.get(o.orderId);
    if (
      !current ||
      o.occurredAtMs > current.occurredAtMs ||
      (o.occurredAtMs === current.occurredAtMs && RANK[o.status] > RANK[current.status])
    ) {
      book.set(o.orderId, { status: o.status, amount: o.amount, occurredAtMs: o.occurredAtMs });
    }
  }
  return book;
}

/** The business instant the completed orders inside [from, to] first met the criteria, or null. */
function qualifiedAt(
  book: Map<string, Book>,
  fromMs: number,
  toMs: number,
  minOrders: number,
  minSpend: number,
): number | null {
  const counted = [...book.values()]
    .filter((o) => o.status === 'completed' && o.occurredAtMs >= fromMs && o.occurredAtMs <= toMs)
    .sort((a, b) => a.occurredAtMs - b.occurredAtMs);
  let orders = 0;
  let spend = 0;
  for (const o of counted) {
    orders += 1;
    spend += o.amount;
    if (orders >= minOrders && spend >= minSpend) return o.occurredAtMs;
  }
  return null;
}

/** An extension is sent in whole seconds: the window the engine keeps may end this much before the model's. */
const ROUNDING_MS = 1_000;

/**
 * `versions`: the terms of each programme version the run published, by number. A referral runs under the version it
 * started with; a move it reports as `moved` puts it under the new version's terms (the window counted again from
 * the registration, never before an admin's extension; everything else the run publishes is the same in both).
 */
export function expectReferral(r: ReferralRecord, versions: ReadonlyMap<number, Profile>): Expectation {
  const startVersion = r.programVersion ?? 1;
  const p = versions.get(startVersion) ?? versions.get(1)!;
  const G = p.lateEventGraceMs;
  const answerMismatches: string[] = [];
  const followedAnswer: string[] = [];
  const moved = r.moves.find((m) => !m.dryRun && m.outcome === 'moved') ?? null;
  const movedTo = moved ? versions.get(moved.toVersion) : undefined;
  if (moved && !movedTo) answerMismatches.push(`moved to version ${moved.toVersion}, which the run never published`);
  /**
   * The checkout with a voucher shown as active takes it, and a second key is then refused as already used; unless
   * the referral's failed end came between the listing and the checkout and voided it first: then both keys are
   * refused as not active.
   */
  const judgeCheckout = (voucher: Expectation['voucher'], endsFromMs: number | undefined) => {
    const v = r.voucher;
    if (!v?.code) return;
    const said = (a: { status: number; code: string | null }) => `${a.status}${a.code ? ` ${a.code}` : ''}`;
    const taken = v.answers.filter((a) => a.status === 201 || a.status === 200);
    const voided = v.answers.filter((a) => a.status === 409 && a.code === 'voucher_not_active');
    const endCameFirst =
      voucher === 'void' && endsFromMs !== undefined && voided.length === v.answers.length && v.answers.length > 0
        ? Math.min(...v.answers.map((a) => a.answeredAtMs)) >= endsFromMs
        : false;
    if (endCameFirst) followedAnswer.push(`voucher ${v.code} was voided by the referral's end before its checkout`);
    else if (taken.length !== v.answers.length)
      answerMismatches.push(`voucher redemption answered ${v.answers.map(said).join(',')}`);
    const otherDue = endCameFirst ? 'voucher_not_active' : 'voucher_already_redeemed';
    if (v.otherKey && !(v.otherKey.status === 409 && v.otherKey.code === otherDue))
      answerMismatches.push(`a second key on voucher ${v.code} answered ${said(v.otherKey)}, not 409 ${otherDue}`);
  };
  const expect = (
    status: Status | null,
    settledByMs: number,
    extra: Partial<Pick<Expectation, 'voucher' | 'referrerPoints' | 'milestone'>> & {
      /** a failed end: the earliest instant it can have voided the voucher (an expiry waits out the window's grace) */
      endsFromMs?: number;
    } = {},
  ): Expectation => {
    const voucher = extra.voucher ?? 'none';
    judgeCheckout(voucher, extra.endsFromMs);
    return {
      status,
      voucher,
      referrerPoints: extra.referrerPoints ?? 0,
      milestone: extra.milestone ?? false,
      settledByMs,
      programVersion: r.referralId ? (moved?.toVersion ?? startVersion) : null,
      answerMismatches,
      followedAnswer,
    };
  };
  if (!r.referralId) {
    // A signup by a valid code is never refused: it registers however late it is delivered, so it owes a 201.
    if (r.signup && r.signup.status !== 201)
      answerMismatches.push(`signup answered ${r.signup.status} ${r.signup.code ?? ''}, not 201`);
    return expect(null, 0);
  }
  answerMismatches.push(...checkMoves(r, p, versions));

  // --- the claim, and whether the signup registered it ---
  if (r.claim && r.signup === null) {
    if (r.lateSignup && !(r.lateSignup.status === 409 && r.lateSignup.code === 'referral_closed'))
      answerMismatches.push(
        `a signup naming the expired claim answered ${r.lateSignup.status} ${r.lateSignup.code ?? ''}, not 409 referral_closed`,
      );
    return expect('expired', r.claim.expiresAtMs + G);
  }
  const signup = r.signup!;
  const registered = signup.status === 201;
  if (!registered) {
    // Made before the claim expired, a signup registers whenever it is delivered: to the claim, or, once the claim
    // has lapsed, to a referral of its own under the claim's code (README "Where time and history meet"). Only a
    // signup dated after the claim's expiry may be refused.
    const mayRefuse = r.claim !== null && signup.occurredAtMs > r.claim.expiresAtMs;
    if (!mayRefuse) answerMismatches.push(`signup answered ${signup.status} ${signup.code ?? ''}, not 201`);
    return expect(r.claim ? 'expired' : null, (r.claim?.expiresAtMs ?? 0) + G);
  }

  const T0 = signup.occurredAtMs;
  const voucherEnd = (status: Status, issued: boolean): Expectation['voucher'] =>
    !issued ? 'none' : r.voucher?.redeemed ? 'redeemed' : status === 'completed' ? 'active' : 'void';

  // --- review ---
  let windowEndMs = T0 + p.qualificationWindowMs;
  let voucherIssued = true;
  const applied = (action: SentAdmin['action']) => r.admin.find((a) => a.action === action);
  const admitted = (a: SentAdmin, deadlineMs: number, what: string): boolean => {
    if (a.status === 200) return true;
    if (a.answeredAtMs > deadlineMs) {
      followedAnswer.push(`${what} answered ${a.status} ${a.code ?? ''} after the deadline it raced`);
      return false;
    }
    answerMismatches.push(`${what} answered ${a.status} ${a.code ?? ''}, not 200`);
    return false;
  };
  if (r.flagged) {
    voucherIssued = false;
    // The review's deadline runs from the registration, somewhere between the signup's sending and its answer: an
    // action answered before the earliest it could be must have found the referral under review.
    const decideByEarliest = signup.sentAtMs + p.decisionWindowMs;
    const decideByMs = signup.answeredAtMs + p.decisionWindowMs;
    const cancel = applied('cancel') ?? applied('reject');
    if (cancel && admitted(cancel, decideByEarliest, cancel.action)) {
      return expect(cancel.action === 'cancel' ? 'cancelled' : 'rejected', cancel.answeredAtMs);
    }
    const approve = applied('approve');
    if (!approve || !admitted(approve, decideByEarliest, 'approve')) {
      // no decision in time: the review runs out (an admin's deadline, no grace)
      return expect('rejected', decideByMs);
    }
    voucherIssued = true;
  } else {
    const ender = applied('cancel') ?? applied('reject');
    if (ender && admitted(ender, windowEndMs + G, ender.action)) {
      const status: Status = ender.action === 'cancel' ? 'cancelled' : 'rejected';
      return expect(status, ender.answeredAtMs, { voucher: voucherEnd(status, true), endsFromMs: ender.sentAtMs });
    }
    const extend = applied('extend');
    const extendedEnd = extend && admitted(extend, windowEndMs + G, 'extend') ? windowEndMs + (extend.byMs ?? 0) : null;
    if (movedTo && moved) {
      // The window is counted again from the registration with the new terms; an extension granted before the move
      // holds (never before the instant the admin set), one granted after it extends the moved window.
      const recounted = T0 + movedTo.qualificationWindowMs;
      if (extendedEnd === null) windowEndMs = recounted;
      else if (extend!.answeredAtMs <= moved.sentAtMs) windowEndMs = Math.max(recounted, extendedEnd);
      else if (extend!.sentAtMs >= moved.finishedAtMs) windowEndMs = recounted + (extend!.byMs ?? 0);
      else {
        followedAnswer.push('an extension raced the move: the later of the two readings');
        windowEndMs = Math.max(recounted, extendedEnd) + (extend!.byMs ?? 0);
      }
    } else if (extendedEnd !== null) windowEndMs = extendedEnd;
  }
  if (r.flagged && movedTo) windowEndMs = T0 + movedTo.qualificationWindowMs;

  // --- qualification, in business time; a fact reported after its deadline's grace changes nothing ---
  const decideWindowMs = windowEndMs + G;
  const accepted = r.orders.filter((o) => o.acceptedAtMs !== null);
  const forWindow = accepted.filter((o) => o.occurredAtMs > windowEndMs || o.acceptedAtMs! <= decideWindowMs);
  const additions = forWindow.filter((o) => o.status === 'placed' || o.status === 'completed');
  const firstQualified = qualifiedAt(bookOf(additions), T0, windowEndMs, 1, p.minSpend);
  if (firstQualified === null) {
    return expect('expired', decideWindowMs, {
      voucher: voucherEnd('expired', voucherIssued),
      endsFromMs: decideWindowMs - ROUNDING_MS,
    });
  }
  // During the hold a refund or cancel dated inside it, and reported before its grace ends, takes its order back out.
  const holdUntil = firstQualified + p.rewardHoldMs;
  const removals = accepted.filter(
    (o) =>
      (o.status === 'refunded' || o.status === 'cancelled') &&
      o.occurredAtMs <= holdUntil &&
      o.acceptedAtMs! <= holdUntil + G,
  );
  const finalQualified = qualifiedAt(bookOf([...additions, ...removals]), T0, windowEndMs, 1, p.minSpend);
  if (finalQualified === null) {
    return expect('expired', Math.max(decideWindowMs, holdUntil + G), {
      voucher: voucherEnd('expired', voucherIssued),
      // a loss before the window is decided goes back to registered: only one after it ends the referral
      endsFromMs: decideWindowMs - ROUNDING_MS,
    });
  }
  const finalHoldUntil = finalQualified + p.rewardHoldMs;
  const completedBy = finalHoldUntil + G;

  // --- after completion: the milestone counts completed orders dated within its window from registration ---
  const milestoneBy = T0 + p.milestoneWindowMs;
  const forMilestone = accepted.filter((o) => o.acceptedAtMs! <= milestoneBy + G);
  const book = bookOf(forMilestone);
  const milestoneOrders = [...book.values()].filter(
    (o) => o.status === 'completed' && o.occurredAtMs >= T0 && o.occurredAtMs <= milestoneBy,
  ).length;
  const milestone = milestoneOrders >= p.milestone.orders;
  return expect('completed', Math.max(completedBy, milestoneBy + G) + p.pointValidityMs, {
    voucher: voucherEnd('completed', voucherIssued),
    referrerPoints: p.referrerPoints,
    milestone,
  });
}

/**
 * What each move (or dry run) had to report for the referral, where the model can tell: a referral already on the
 * version is unchanged; one that had ended, or whose stage was surely decided, before the move was sent is refused;
 * one surely open and undecided from the move's sending to its end is moved (a dry run: would move). In between, the
 * report decides, and the prediction follows it.
 */
function checkMoves(r: ReferralRecord, p: Profile, versions: ReadonlyMap<number, Profile>): string[] {
  const problems: string[] = [];
  let current = r.programVersion ?? 1;
  const signup = r.signup;
  const ender = r.admin.find((a) => (a.action === 'cancel' || a.action === 'reject') && a.status === 200);
  const extension = r.admin.find((a) => a.action === 'extend' && a.status === 200)?.byMs ?? 0;
  for (const m of r.moves) {
    const what = `${m.dryRun ? 'dry run' : 'move'} ${m.moveId} to version ${m.toVersion}`;
    const movable = m.dryRun ? 'would_move' : 'moved';
    if (m.outcome === null) {
      problems.push(`${what}: selected it, yet lists no outcome for it (${m.code ?? 'not listed'})`);
      continue;
    }
    const registeredBefore = signup?.status === 201 && signup.answeredAtMs < m.sentAtMs;
    const T0 = signup?.occurredAtMs ?? 0;
    const terms = versions.get(current) ?? p;
    // every stage of a registered referral is decided by the window's end, its grace and a hold at the latest
    const decidedBy = T0 + terms.qualificationWindowMs + extension + p.lateEventGraceMs + p.rewardHoldMs;
    const endedBefore =
      (ender !== undefined && ender.answeredAtMs < m.sentAtMs) || (registeredBefore && decidedBy < m.sentAtMs);
    // no stage of a registered referral is decided before its registration's instant plus the grace
    const openThroughout =
      registeredBefore &&
      !r.flagged &&
      (ender === undefined || ender.sentAtMs > m.finishedAtMs) &&
      m.finishedAtMs < T0 + p.lateEventGraceMs - 2_000;
    if (current === m.toVersion) {
      if (m.outcome !== 'unchanged' && !(m.outcome === 'refused' && m.code === 'ended'))
        problems.push(`${what}: already on that version, yet reported ${m.outcome} ${m.code ?? ''}, not unchanged`);
    } else if (endedBefore) {
      if (m.outcome !== 'refused')
        problems.push(`${what}: ended or decided before the move, yet reported ${m.outcome}`);
    } else if (openThroughout && m.outcome !== movable) {
      problems.push(
        `${what}: open and undecided throughout, yet reported ${m.outcome} ${m.code ?? ''}, not ${movable}`,
      );
    }
    if (!m.dryRun && m.outcome === 'moved') current = m.toVersion;
  }
  return problems;
}
