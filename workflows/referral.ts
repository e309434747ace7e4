import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  makeContinueAsNewFunc,
  ParentClosePolicy,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { ReferralActivities } from '../activities';
import type { ProjectReferralInput } from '../activities/referrals';
import { addDuration, MAX_TERM_DURATION_MS } from './durations';
import { pointLotWorkflow } from './lot';
import { firstTypeChanges, lifecycleChanges, PATCHES, type ChangeFollowed } from './referral-changes';
import { pointLotWorkflowId, type LotCreditRequest, type LotSourceKind } from './lot-shared';
import {
  approveUpdate,
  cancelUpdate,
  extendUpdate,
  moveTermsUpdate,
  orderSignal,
  registerUpdate,
  rejectUpdate,
  stateQuery,
  termsMovePreviewQuery,
} from './messages';
import {
  applyOrderEvent,
  assessHeldQualification,
  assessQualification,
  bookAsOf,
  historyOf,
  recordOrderEvent,
  type OrderBook,
  type OrderHistory,
  type Qualification,
  type QualificationRule,
} from './order-book';
import { lotExpiresAt } from './point-validity';
import { RefereeIdKey, ReferralFlagsKey, ReferralStatusKey } from './search-attributes';
import {
  COUNTED_PROGRESS,
  DEFAULT_REFERRAL_TERMS,
  FAULTS,
  isTerminal,
  REFUSALS,
  reviewTerms,
  creditedPoints,
  rewardTerms,
  tierFor,
  tierTerms,
  type AdminActionRecord,
  type CancelRequest,
  type CarriedReferral,
  type OrderFacts,
  type ReferralInput,
  type ReferralRewards,
  type ReferralSnapshot,
  type ReferralStatus,
  type RequestedLot,
  type ExtendRequest,
  type ProgramSnapshot,
  type ReferralDeadlines,
  type ReferralTerms,
  type SignupFacts,
  type TermsMoveRequest,
  type TimelineEntry,
  voucherIssuedEntry,
} from './shared';
import { planTermsMove, type TermsMovePlan } from './terms-move';

/**
 * One referral's lifecycle:
 *
 *   pending -> registered -> qualified -> completed
 *      \___________\____________\_______> expired    (the deadline of the current stage passed)
 *      \___________\____________\_______> cancelled  (an admin said so)
 *
 * Signal and update handlers only record facts (a registration, an order, a cancel request); the loop at the
 * bottom is the single writer of the status, so a late or duplicate message cannot move the referral backwards.
 */

// Postgres writes that take milliseconds; a minute covers a failover without masking a stuck worker for long.
const DATABASE_WRITE = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
const remote = proxyActivities<ReferralActivities>(DATABASE_WRITE);
/**
 * The same writes as local activities: run by the worker inside the workflow task, they skip two server round trips
 * each, which is most of a signup's latency. They stay safe to repeat, which local activities need more than most.
 */
const local = proxyLocalActivities<ReferralActivities>({ ...DATABASE_WRITE, localRetryThreshold: '10 seconds' });
/**
 * Projection writes as regular activities, scheduled by the completion of the workflow task that decided them. A
 * shorter timeout than other writes: a worker that dies mid-write delays the projection by this much, no more.
 */
const decided = proxyActivities<ReferralActivities>({ ...DATABASE_WRITE, startToCloseTimeout: '10 seconds' });

/** How long a referral created by a signup waits for that signup's registration before it gives up. */
const SIGNUP_REGISTRATION_TIMEOUT = '1 day';

/** The failure types activities give the database errors no retry can fix (activities/database-faults.ts). */
const DATABASE_FAULTS: ReadonlySet<string> = new Set([
  FAULTS.databaseData,
  FAULTS.databaseIntegrity,
  FAULTS.databaseSchema,
]);

interface PermanentFailure {
  activity: string;
  type: string;
  message: string;
}

const RECENT_TIMELINE_SIZE = 50;
const DEFAULT_HISTORY_EVENT_LIMIT = 10_000;

/**
 * Referrals started before `referralLifecycle` existed: every change since they began is taken behind `patched()`,
 * so their histories replay as they were made. Their next continue-as-new carries them over to the new type.
 */
export function referralWorkflow(input: ReferralInput): Promise<ReferralSnapshot> {
  return runReferral(input, firstTypeChanges());
}

/** The referral's lifecycle as referrals start now, with the changes its run was born with (referral-changes.ts). */
export function referralLifecycle(input: ReferralInput): Promise<ReferralSnapshot> {
  return runReferral(input, lifecycleChanges());
}

/** `since(change)`: whether this run follows a change listed in PATCHES (workflows/referral-changes.ts). */
async function runReferral(input: ReferralInput, since: ChangeFollowed): Promise<ReferralSnapshot> {
  const { referralId } = input;
  // The programme version in force: the one it started under, until an admin moves it to another (moveTerms).
  let program = input.program;
  let terms = program.terms;
  const { projectReferral, registerReferee, takeOrdersAwaitingSignup, takeReportedOrders } = since(
    PATCHES.localActivities,
  )
    ? local
    : remote;
  /**
   * Commerce systems report facts seconds to minutes after they happen. With the grace, each deadline decides only
   * once `lateEventGrace` has passed after it, counting facts dated up to the deadline; a fact dated earlier but
   * reported later still is shown as late and changes nothing. Referrals started before this decide at the deadline.
   */
  const graceEnabled = since(PATCHES.lateEventGrace);
  // Decided first thing, in the first task, whatever the signup's registration does in it (runLifecycle says why).
  const signupTimerKept = input.origin === 'signup' && !input.carried && since(PATCHES.signupTimerKept);
  const lateEventGrace = (): string => terms.lateEventGrace ?? DEFAULT_REFERRAL_TERMS.lateEventGrace ?? '0';
  /**
   * A local activity writes inside the workflow task that made the decision. If that task is lost (the worker dies
   * before completing it), its retry may decide otherwise (a refund arrived meanwhile) and the projection would keep a
   * state the workflow never reached. So transitions are written by regular activities: the task's completion
   * schedules the write, and the decision is in history before it runs; a retried write repeats a decision that stands.
   * The price, measured on the dev server: a signup's update answers in ~140 ms at p50 instead of ~70 ms.
   */
  const projectDecidedOnly = since(PATCHES.projectDecided);
  /**
   * Counted progress is no status decision: it is written by a local activity in the task that counted the order, which
   * spares each order a regular activity's three events and a workflow task. The write is provisional (see
   * `writeProjection`): if that task is lost, its retry writes the same seq over it, whatever it decides, even no change
   * (correctLostProgress).
   */
  const progressWrittenLocally = since(PATCHES.progressWrittenLocally);
  /**
   * The retry of a lost task asserts its count only where the lost task may have written one: when an order event of
   * this task moved the count on the way (a refund may have taken it back), or was held back or set aside by a
   * deadline that the lost task, running earlier, may not have reached. Runs born with set 2 asserted it after every
   * order event that changed nothing, which cost a local activity per `placed` event.
   */
  const progressCorrectedWhenMoved = since(PATCHES.progressCorrectedWhenMoved);
  /**
   * A referral that fails (expired, cancelled, rejected) is closed in the projection by the write that shows its end:
   * nothing that arrives later changes it, and the intake settles its referee's orders from the projection already. A
   * separate close after everything else cost each ending one more activity and workflow task, a third of a mass
   * expiry's tasks. A completed referral closes last, as before: orders go on reaching it for its milestone.
   */
  const closedWithFailedEnd = since(PATCHES.closedWithFailedEnd);
  /** The projection said it closed the referral with the end's write (an older worker's write never says so). */
  let closedByEnd = false;
  /**
   * Rewards (DESIGN §4): the referee's voucher at registration (voided if the referral fails), the referrer's points
   * at completion, then the milestone. Referrals started before each existed replay without it.
   */
  const voucherEnabled = since(PATCHES.refereeVoucher);
  const referrerPointsEnabled = since(PATCHES.referrerPoints);
  const milestoneEnabled = since(PATCHES.milestone);
  let reward = rewardTerms(terms);

  const carried: CarriedReferral = input.carried ?? {
    status: 'pending',
    seq: 0,
    refereeId: null,
    registration: null,
    qualifiedAt: null,
    completedAt: null,
    endedAt: null,
    endReason: null,
    deadlines: { expiresAt: addDuration(input.createdAt, terms.referralExpiry), qualifyBy: null, holdUntil: null },
    orders: [],
    recentTimeline: [],
  };
  const state = { ...carried, deadlines: { ...carried.deadlines } };
  const orders: OrderBook = new Map(carried.orders.map((order) => [order.orderId, order]));
  /**
   * Events reach the workflow in any order and any time after they were reported: lateness is judged by when the
   * intake accepted an event, a deadline is decided only with what was reported in time (taken from the inbox if its
   * delivery is still under way), and qualification follows each order's history in business time, so a completion
   * that arrives after its own refund still counted until the refund. Referrals started before this judge by arrival.
   */
  const ordersByReport = since(PATCHES.ordersByReport);
  /**
   * A move judges a qualified referral at its hold, as the lifecycle does. Decided by the first move accepted, in its
   * handler, so a referral that never moves carries no marker; until then the validator and the dry run judge as a new
   * referral does (neither is in the history: a replay runs neither).
   */
  let movesJudgeAtHold: boolean | undefined;
  /**
   * Whether the referee's voucher is issued in the registration's write and voided in the write that shows a failed
   * end, instead of in activities of its own. Decided as a signup is registered, before its local activity: a decision
   * taken after one is taken in another workflow task on replay whenever the worker sent the task on before the
   * workflow saw the activity's result, and a patch marker out of its task stops the referral for good. A referral
   * registered before this keeps the separate writes.
   */
  let voucherInJoinedWrites: boolean | undefined;
  const decideJoinedWrites = (): boolean => (voucherInJoinedWrites ??= since(PATCHES.voucherInJoinedWrites));
  const decideHowMovesJudge = (): boolean => (movesJudgeAtHold ??= ordersByReport && since(PATCHES.movesJudgeAtHold));
  const orderHistory: OrderHistory = historyOf(carried.orderHistory ?? carried.orders);
  // During a deadline's grace, order events dated after it wait until it is decided: it is decided as of its instant.
  let heldBackOrders: OrderFacts[] = [...(carried.heldBackOrders ?? [])];
  // Order events dated inside the closed window but reported after its grace: kept for the timeline, never counted.
  let lateOrders: OrderFacts[] = [...(carried.lateOrders ?? [])];
  // Order events signalled after the referral ended (other than completed) and before its workflow closed.
  const ordersAfterEnd: OrderFacts[] = [];
  // Late for the qualification window, which they cannot change, but on time for the milestone's longer one.
  const lateWindowOrders: OrderFacts[] = [...(carried.lateWindowOrders ?? [])];
  // decided as the milestone phase starts (referrals that reached it before this existed count without them)
  let countsLateWindowOrders = false;
  const milestoneOrders = (): OrderBook => {
    if (!countsLateWindowOrders) return orders;
    const book: OrderBook = new Map(orders);
    for (const order of lateWindowOrders) applyOrderEvent(book, order);
    return book;
  };
  const rewards: ReferralRewards = { voucher: null, referrerPoints: null, milestone: null, ...carried.rewards };
  // After completion: until when the milestone counts, and how that ended.
  let milestone: { by: string; outcome: 'reached' | 'missed' | null } | null = carried.milestone
    ? { ...carried.milestone }
    : null;
  // Late events already on the timeline: a redelivery of one is absorbed, not recorded again.
  const lateEventIds = new Set<string>(carried.lateEventIds ?? []);

  /**
   * Fraud review (DESIGN §4): the signals found at the claim and the signup; with `flagsToReview` of them the
   * registration waits for an admin (under_review) and nothing is paid meanwhile; no decision by `decideBy` rejects it.
   * The qualification window keeps running in business time: orders during the review count once it is approved.
   */
  const reviewEnabled = since(PATCHES.fraudReview);
  let review = reviewTerms(terms);
  let flags: string[] = [...(carried.flags ?? input.claim?.flags ?? [])];
  let reviewDue: { decideBy: string } | null = carried.review ?? null;
  /** Admin actions (approve, reject, extend, move) wait here for the loop, which applies or refuses each in turn. */
  type AdminAction = 'approve' | 'reject' | 'extend' | 'move';
  type AdminActionInput = ExtendRequest & Partial<Pick<TermsMoveRequest, 'program'>>;
  const adminQueue: Array<{ action: AdminAction; request: AdminActionInput }> = [];
  const adminApplied = new Set<string>(carried.adminRequestsApplied ?? []);
  const adminRefused = new Map<string, string>();
  // the request id of the cancel that was applied, when it had one
  let appliedCancelId: string | undefined;
  // An admin's extension of the reward hold is a floor: a refund that moves the hold never brings it before that.
  let holdFloor: string | null = carried.holdFloor ?? null;
  // The expiry and the window as an admin extended them: a move to new terms never cuts them.
  const extendedDeadlines: Partial<ReferralDeadlines> = carried.extendedDeadlines
    ? { ...carried.extendedDeadlines }
    : extensionsCarriedUnrecorded();

  /**
   * A run carried over before extensions were kept knows its deadlines, not which an admin set: any that is not what
   * the terms give is taken for an extension, so a move never cuts it.
   */
  function extensionsCarriedUnrecorded(): Partial<ReferralDeadlines> {
    if (!input.carried) return {};
    const found: Partial<ReferralDeadlines> = {};
    const { expiresAt, qualifyBy } = carried.deadlines;
    if (expiresAt && expiresAt !== addDuration(input.createdAt, terms.referralExpiry)) found.expiresAt = expiresAt;
    const registeredAt = carried.registration?.registeredAt;
    if (qualifyBy && registeredAt && qualifyBy !== addDuration(registeredAt, terms.qualificationWindow))
      found.qualifyBy = qualifyBy;
    return found;
  }

  // Facts recorded by handlers, consumed by the loop.
  let ordersVersion = 0;
  // the signup event whose registration is being checked right now, and the last one refused
  let registeringEventId: string | null = null;
  const registering = (): boolean => registeringEventId !== null;
  let refusal: { eventId: string; type: string; message: string } | null = null;
  let cancelRequest: CancelRequest | null = null;
  // An activity failure no retry can fix stopped the referral: the handlers waiting on it answer with it.
  let fault: { type: string; message: string } | null = null;
  // Set once a fault is being handled: no new registration may start while the referral stops.
  let stopping = false;
  // Whether the projection shows the registration: until it does, a stopped referral must release its referee.
  let registrationProjected = input.carried !== undefined && carried.status !== 'pending';
  // Updates answer once their transition is in the projection, so a read right after sees it.
  let projectedSeq = state.seq;
  const projected = (): boolean => projectedSeq === state.seq;
  // Order events taken in all, and as of the last projection write (see correctLostProgress).
  let orderEventsTaken = 0;
  let orderEventsAtWrite = 0;
  // Since the last projection write, an order event may have moved the count in a lost task (progressCorrectedWhenMoved).
  let progressMayBeLost = carried.progressUnconfirmed ?? false;
  // The instant of the last write the projection heard from this workflow, corrections included (entryInstant).
  let lastWriteAt = carried.lastWriteAt ?? carried.recentTimeline.at(-1)?.at;

  const windowRule = (): QualificationRule | null =>
    state.registration && state.deadlines.qualifyBy
      ? {
          currency: program.currency,
          fromMs: Date.parse(state.registration.registeredAt),
          toMs: Date.parse(state.deadlines.qualifyBy),
          minOrders: terms.minOrders,
          minSpend: terms.minSpend,
        }
      : null;
  // what the last assessment saw, as `orders version|status|window|hold|floor|terms`, and what it found
  let assessed: { key: string; q: Qualification } | null = null;
  const qualification = (): Qualification | null => {
    const rule = windowRule();
    if (!rule) return null;
    if (!ordersByReport) return assessQualification(orders, rule);
    const holdUntil = state.deadlines.holdUntil;
    const judgedAtHold = (state.status === 'qualified' || state.status === 'completed') && holdUntil !== null;
    // the state query and every projection write ask for it: judged once per change, not per question
    const key = [ordersVersion, judgedAtHold, rule.fromMs, rule.toMs, holdUntil, holdFloor, JSON.stringify(terms)].join(
      '|',
    );
    if (assessed?.key === key) return assessed.q;
    let q: Qualification;
    if (judgedAtHold) {
      // the hold decides with what happened up to its end and was reported by its grace
      const holdEndMs = Date.parse(holdUntil);
      q = assessQualification(bookAsOf(orderHistory, holdEndMs, decidedAtMs(holdEndMs)), rule);
    } else q = assessHeldQualification(orderHistory, rule, holdEndAfter, decidedAtMs);
    assessed = { key, q };
    return q;
  };
  const isoAt = (ms: number): string => new Date(ms).toISOString();
  /** The hold after qualifying at that instant: never before an admin's extension of it. */
  const holdEndAfter = (qualifiedAtMs: number, rewardHold = terms.rewardHold): number =>
    Math.max(
      Date.parse(addDuration(isoAt(qualifiedAtMs), rewardHold, { allowZero: true })),
      holdFloor ? Date.parse(holdFloor) : -Infinity,
    );
  const decidedAtMs = (deadlineMs: number): number => Date.parse(decidesAt(isoAt(deadlineMs))!);
  /** When the intake accepted the event; events from before it was sent count as reported now. */
  const reportedAtMs = (order: OrderFacts): number =>
    ordersByReport && order.reportedAt ? Date.parse(order.reportedAt) : Date.now();

  /** Puts an order event in the book (and its order's history); a change wakes the stage waiting on orders. */
  function bookOrderEvent(order: OrderFacts): void {
    const latestChanged = applyOrderEvent(orders, order);
    const recorded = ordersByReport && recordOrderEvent(orderHistory, order);
    if (latestChanged || recorded) ordersVersion += 1;
  }

  /** When a deadline is decided: the deadline itself, plus the grace for facts dated before it and reported late. */
  const decidesAt = (deadline: string | null): string | null =>
    deadline && graceEnabled ? addDuration(deadline, lateEventGrace(), { allowZero: true }) : deadline;

  /** The deadline of the current stage. */
  const stageDeadline = (): string | null =>
    state.status === 'pending'
      ? state.deadlines.expiresAt
      : state.status === 'registered'
        ? state.deadlines.qualifyBy
        : state.status === 'qualified'
          ? state.deadlines.holdUntil
          : null;

  /** The current stage's deadline while its grace runs (it has passed, it is not decided yet), else null. */
  const deadlineInGrace = (): number | null => {
    const deadline = graceEnabled ? stageDeadline() : null;
    return deadline !== null && Date.now() > Date.parse(deadline) ? Date.parse(deadline) : null;
  };

  /**
   * An order event reported after the window and its grace closed, that would add to what the window counted: the
   * window's count is final by then (a refund or cancel still takes an order back out during the hold).
   */
  function reportedAfterWindowClosed(order: OrderFacts): boolean {
    const rule = windowRule();
    const closesAt = decidesAt(state.deadlines.qualifyBy);
    if (!graceEnabled || !rule || !closesAt || reportedAtMs(order) <= Date.parse(closesAt)) return false;
    if (ordersByReport) {
      // a completion the window would count; its history is not the window's to rewrite any more
      const at = Date.parse(order.occurredAt);
      return order.status === 'completed' && order.currency === rule.currency && at >= rule.fromMs && at <= rule.toMs;
    }
    const current = orders.get(order.orderId);
    const probe: OrderBook = new Map(current ? [[order.orderId, current]] : []);
    const before = assessQualification(probe, rule);
    if (!applyOrderEvent(probe, order)) return false;
    const after = assessQualification(probe, rule);
    return after.countedOrders > before.countedOrders || after.countedSpend > before.countedSpend;
  }

  // what the projection last showed of the counted orders, as `orders/spend`
  const progressKey = (counted: { countedOrders: number; countedSpend: number } | null): string =>
    `${counted?.countedOrders ?? 0}/${counted?.countedSpend ?? 0}`;
  let projectedProgress = carried.projectedProgress ?? progressKey(qualification());

  const snapshot = (): ReferralSnapshot => {
    const q = qualification();
    return {
      referralId,
      status: state.status,
      programId: program.id,
      programVersion: program.version,
      currency: program.currency,
      code: input.code,
      referrerId: input.referrerId,
      refereeId: state.refereeId,
      createdAt: input.createdAt,
      registeredAt: state.registration?.registeredAt ?? null,
      qualifiedAt: state.qualifiedAt,
      completedAt: state.completedAt,
      endedAt: state.endedAt,
      endReason: state.endReason,
      deadlines: { ...state.deadlines },
      graceEndsAt: isTerminal(state.status) ? null : decidesAt(stageDeadline()),
      terms,
      progress: {
        countedOrders: q?.countedOrders ?? 0,
        countedSpend: q?.countedSpend ?? 0,
        minOrders: terms.minOrders,
        minSpend: terms.minSpend,
      },
      countedOrders: q?.counted ?? [],
      recentTimeline: [...state.recentTimeline],
      rewards: { ...rewards },
      flags: [...flags],
      review: reviewDue ? { ...reviewDue } : null,
      ...(milestone
        ? {
            milestone: {
              ...milestone,
              countedOrders: assessQualification(milestoneOrders(), milestoneRule(milestone.by)).countedOrders,
              orders: reward.milestone.orders,
            },
          }
        : {}),
    };
  };

  setHandler(stateQuery, snapshot);
  setHandler(termsMovePreviewQuery, (to, at) => planMove(to, Date.parse(at)));

  /** What moving to `to` would do at `atMs`, by the rule of terms-move.ts. */
  function planMove(to: ProgramSnapshot, atMs = Date.now()): TermsMovePlan {
    return planTermsMove(
      {
        programId: program.id,
        programVersion: program.version,
        terms,
        status: state.status,
        createdAt: input.createdAt,
        registeredAt: state.registration?.registeredAt ?? null,
        qualifiedAt: state.qualifiedAt,
        deadlines: { ...state.deadlines },
        extended: { ...extendedDeadlines, ...(holdFloor ? { holdUntil: holdFloor } : {}) },
        grace: graceEnabled ? lateEventGrace() : '0',
      },
      to,
      atMs,
      ({ minOrders, minSpend, qualifyBy }) => {
        const rule: QualificationRule = {
          currency: program.currency,
          fromMs: Date.parse(state.registration!.registeredAt),
          toMs: Date.parse(qualifyBy),
          minOrders,
          minSpend,
        };
        const { qualifiedAtMs } =
          (movesJudgeAtHold ?? ordersByReport) ? qualificationUnder(to.terms, rule) : assessQualification(orders, rule);
        return qualifiedAtMs === null ? null : isoAt(qualifiedAtMs);
      },
      graceUnder(to.terms),
    );
  }

  const graceUnder = (next: ReferralTerms): string =>
    graceEnabled ? (next.lateEventGrace ?? DEFAULT_REFERRAL_TERMS.lateEventGrace ?? '0') : '0';

  /**
   * The qualification the referral would have under other terms, judged as the lifecycle judges it: each instant the
   * criteria were met followed through the hold those terms give it (never before an admin's extension) and the grace
   * they decide it with. A refund dated after that hold cannot take back what the hold earned, even where the latest
   * order book shows the order refunded (both reported in one moment, before the referral qualified).
   */
  function qualificationUnder(next: ReferralTerms, rule: QualificationRule): Qualification {
    const grace = graceUnder(next);
    const decided = (deadlineMs: number) => Date.parse(addDuration(isoAt(deadlineMs), grace, { allowZero: true }));
    // Events held back for the hold's decision are booked once a move puts that decision ahead: judged with them.
    const history = new Map([...orderHistory].map(([orderId, records]) => [orderId, [...records]]));
    for (const order of heldBackOrders) recordOrderEvent(history, order);
    return assessHeldQualification(history, rule, (at) => holdEndAfter(at, next.rewardHold), decided);
  }

  setHandler(
    registerUpdate,
    async (signup) => {
      // The same signup delivered twice (a retry racing the first attempt) gets the first attempt's answer.
      if (registeringEventId === signup.eventId) await condition(() => !registering());
      if (state.registration?.eventId !== signup.eventId) {
        if (refusal?.eventId === signup.eventId) throw refusalFailure(refusal);
        await register(signup);
      }
      await condition(() => (state.status !== 'pending' && projected()) || fault !== null);
      if (fault) throw faultFailure(fault);
      return snapshot();
    },
    {
      validator: (signup) => {
        if (state.registration?.eventId === signup.eventId || registeringEventId === signup.eventId) return;
        if (refusal?.eventId === signup.eventId) return;
        if (stopping) {
          throw ApplicationFailure.create({
            type: REFUSALS.closed,
            message: `referral ${referralId} is stopping after a fault`,
            nonRetryable: true,
          });
        }
        if (state.status === 'pending' && !state.registration && registering()) {
          throw ApplicationFailure.create({
            type: REFUSALS.registrationInProgress,
            message: `another signup for referral ${referralId} is being checked; retry shortly`,
          });
        }
        // Ended: the same answer as once its workflow has closed (it writes its close to the projection first).
        if (isTerminal(state.status)) {
          throw ApplicationFailure.create({
            type: REFUSALS.closed,
            message: `referral ${referralId} has already ended as ${state.status}`,
            nonRetryable: true,
          });
        }
        if (state.status !== 'pending' || state.registration) {
          throw ApplicationFailure.create({
            type: REFUSALS.notPending,
            message: `referral ${referralId} is ${state.status}`,
            nonRetryable: true,
          });
        }
        // A referral a signup creates is that signup's: however late it is reported, it cannot have expired before it.
        if (input.origin === 'signup') return;
        // Business time: a signup made after the claim expired does not complete it, even while the grace runs.
        const expiresAt = state.deadlines.expiresAt;
        if (graceEnabled && expiresAt && Date.parse(signup.occurredAt) > Date.parse(expiresAt)) {
          throw ApplicationFailure.create({
            type: REFUSALS.notPending,
            message: `referral ${referralId} expired at ${expiresAt}, before this signup (${signup.occurredAt})`,
            nonRetryable: true,
          });
        }
        // Reported after the expiry's grace (in the same moment as its timer): the expiry is decided, whatever runs first.
        const decided = decidesAt(expiresAt);
        if (graceEnabled && decided && Date.now() > Date.parse(decided) && since(PATCHES.graceByBusinessTime)) {
          throw ApplicationFailure.create({
            type: REFUSALS.notPending,
            message: `referral ${referralId} expired at ${expiresAt}; this signup was reported after its grace`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  async function register(signup: SignupFacts): Promise<void> {
    decideJoinedWrites();
    registeringEventId = signup.eventId;
    try {
      const outcome = await registerReferee({ referralId, referrerId: input.referrerId, signup }).catch(
        async (error: unknown) => {
          // This signup cannot be checked (its data breaks the database): refuse it for good, keep the referral pending.
          const failure = permanentFailure(error, 'registerReferee');
          if (!failure) throw error;
          throw faultFailure(await recordFault(failure, `signup-${signup.eventId}`));
        },
      );
      if (outcome.outcome === 'refused') {
        refusal = { eventId: signup.eventId, type: outcome.code, message: outcome.detail };
        throw refusalFailure(refusal);
      }
      state.refereeId = signup.refereeId;
      state.registration = { eventId: signup.eventId, registeredAt: new Date(signup.occurredAt).toISOString() };
      flags = [...new Set([...flags, ...(signup.flags ?? [])])].sort();
    } finally {
      registeringEventId = null;
    }
  }

  const refusalFailure = (r: { type: string; message: string }) =>
    ApplicationFailure.create({ type: r.type, message: r.message, nonRetryable: true });

  const faultFailure = (f: { type: string; message: string }) =>
    ApplicationFailure.create({
      type: FAULTS.referralFault,
      message: `referral ${referralId} stopped: ${f.message}`,
      details: [f],
      nonRetryable: true,
    });

  /**
   * An activity failure that retrying cannot fix, with the activity and how it failed; undefined for anything else.
   * A regular activity's failure arrives as an ActivityFailure; a local activity's as its own non-retryable
   * ApplicationFailure (one of the database fault types), so `activity` names it for the record.
   */
  function permanentFailure(error: unknown, activity: string): PermanentFailure | undefined {
    if (error instanceof ActivityFailure) {
      if (!since(PATCHES.surfaceFaults)) return undefined;
      const cause = error.cause;
      const type =
        cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : (cause?.name ?? 'unknown');
      return { activity: error.activityType, type, message: cause?.message ?? error.message };
    }
    if (error instanceof ApplicationFailure && error.nonRetryable && error.type && DATABASE_FAULTS.has(error.type)) {
      if (!since(PATCHES.surfaceLocalFaults)) return undefined;
      return { activity, type: error.type, message: error.message };
    }
    return undefined;
  }

  /** Logs and keeps an activity failure that retrying cannot fix, where admins list them. */
  async function recordFault(failure: PermanentFailure, step: string): Promise<{ type: string; message: string }> {
    const { activity, type, message } = failure;
    log.error('referral activity failed in a way no retry can fix', {
      referralId,
      activity,
      type,
      message,
      status: state.status,
    });
    await remote.recordReferralFault({
      faultId: `${referralId}:${step}`,
      referralId,
      activity,
      failureType: type,
      message,
      status: state.status,
      detail: { seq: state.seq, refereeId: state.refereeId },
    });
    return { type, message };
  }

  /**
   * The lifecycle hit an activity failure that retrying cannot fix: keep it, free a referee whose registration the
   * projection never showed (the customer must not stay reserved by a referral that never registered), answer the
   * waiting handlers, and fail the workflow so the Temporal UI shows it, instead of retrying for ever.
   */
  async function stopOnFault(failure: PermanentFailure): Promise<never> {
    stopping = true;
    // A registration being checked right now finishes first: the referee it reserves is released with the rest.
    if (since(PATCHES.surfaceLocalFaults)) await condition(() => !registering());
    const released = state.refereeId && !registrationProjected ? state.refereeId : null;
    if (released) await remote.releaseReferee({ referralId, refereeId: released });
    if (rewards.voucher && since(PATCHES.voidVoucherOnFault)) await voidVoucherOfStoppedReferral();
    fault = await recordFault(failure, `seq-${state.seq}-${failure.activity}`);
    if (released)
      log.warn('referee released: the registration never reached the projection', { referralId, refereeId: released });
    await condition(allHandlersFinished);
    throw faultFailure(fault);
  }

  /** A referral stopped by a fault pays nothing more: its referee's voucher is void (a used one stays used). */
  async function voidVoucherOfStoppedReferral(): Promise<void> {
    try {
      await remote.voidRefereeVoucher({ referralId, reason: 'referral_fault', at: now() });
    } catch (error) {
      // Stopping goes on: the fault is what an admin must see, and the voucher is listed with it.
      log.error('the voucher of a referral stopped on a fault could not be voided', {
        referralId,
        code: rewards.voucher?.code,
        error: String(error),
      });
    }
  }

  setHandler(orderSignal, acceptOrderEvent);

  /** An order event, signalled or taken from the inbox: counted, held back for a decision, or kept as late. */
  function acceptOrderEvent(order: OrderFacts): void {
    orderEventsTaken += 1;
    const booked = sortOrderEvent(order);
    // A retry may take the same events in another order (signals before a local activity's orders), so any event that
    // can count or uncount an order in some order flags, not only one that moved the count here.
    if (progressCorrectedWhenMoved && !progressMayBeLost)
      progressMayBeLost = !booked || order.status !== 'placed' || progressMoved();
  }

  /** Whether the count as the orders stand now differs from the count last projected. */
  function progressMoved(): boolean {
    const q = qualification();
    return q !== null && progressKey(q) !== projectedProgress;
  }

  /** Where an order event goes; whether it was booked (the others are shown, held back or kept as late). */
  function sortOrderEvent(order: OrderFacts): boolean {
    // Ended other than completed (a completed referral counts on for its milestone): shown, never counted.
    if (isTerminal(state.status) && state.status !== 'completed' && since(PATCHES.ordersAfterEnd)) {
      if (!lateEventIds.has(order.eventId) && !ordersAfterEnd.some((o) => o.eventId === order.eventId))
        ordersAfterEnd.push(order);
      return false;
    }
    if (reportedAfterWindowClosed(order)) {
      // once on the timeline, however often it is redelivered
      const seen = lateEventIds.has(order.eventId) || lateOrders.some((late) => late.eventId === order.eventId);
      if (!(seen && since(PATCHES.graceByBusinessTime))) lateOrders.push(order);
      if (!lateWindowOrders.some((late) => late.eventId === order.eventId)) lateWindowOrders.push(order);
      return false;
    }
    const inGrace = deadlineInGrace();
    if (inGrace !== null && Date.parse(order.occurredAt) > inGrace) {
      holdBack(order);
      return false;
    }
    if (
      graceEnabled &&
      state.status === 'qualified' &&
      holdDecidedByBusinessTime(order) &&
      since(PATCHES.graceByBusinessTime)
    ) {
      holdBack(order);
      return false;
    }
    bookOrderEvent(order);
    return true;
  }

  /** Waits for its deadline's decision; once, however often it is delivered or taken from the inbox. */
  function holdBack(order: OrderFacts): void {
    if (ordersByReport && heldBackOrders.some((held) => held.eventId === order.eventId)) return;
    heldBackOrders.push(order);
  }

  /**
   * While qualified, the hold is decided by business time: an event dated after `holdUntil` (reported early, up to the
   * edge's 5 minutes of clock skew) waits for the decision, and so does any event reported once the hold's grace has
   * passed (in the same moment as its timer, whichever runs first): neither may undo a reward the hold already earned.
   */
  function holdDecidedByBusinessTime(order: OrderFacts): boolean {
    const holdUntil = state.deadlines.holdUntil;
    if (!holdUntil) return false;
    return (
      Date.parse(order.occurredAt) > Date.parse(holdUntil) || reportedAtMs(order) > Date.parse(decidesAt(holdUntil)!)
    );
  }

  setHandler(
    cancelUpdate,
    async (request) => {
      cancelRequest ??= request;
      await condition(() => (isTerminal(state.status) && projected()) || fault !== null);
      if (fault) throw faultFailure(fault);
      // Another admin's cancel came first: that one is the action applied (and audited), this one changed nothing.
      if (request.requestId !== undefined && appliedCancelId !== undefined && appliedCancelId !== request.requestId) {
        throw ApplicationFailure.create({
          type: REFUSALS.closed,
          message: `referral ${referralId} was cancelled by request ${appliedCancelId}`,
          nonRetryable: true,
        });
      }
      return snapshot();
    },
    {
      validator: (_request) => {
        if (isTerminal(state.status)) {
          throw ApplicationFailure.create({
            type: REFUSALS.closed,
            message: `referral ${referralId} has already ended as ${state.status}`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  /**
   * The admin's actions. A validator refuses at once what cannot apply now (409 for the caller, nothing in history);
   * what passes waits for the loop, which checks again as it applies it (the referral may have moved meanwhile). The
   * same request id again is answered with the referral as it is, not applied twice.
   */
  const adminHandler =
    (action: AdminAction) =>
    async (request: AdminActionInput): Promise<ReferralSnapshot> => {
      const key = `${action}:${request.requestId}`;
      // decided in the task that accepts the move, never after a local activity (see voucherInJoinedWrites)
      if (action === 'move') decideHowMovesJudge();
      if (!adminApplied.has(key)) adminQueue.push({ action, request });
      await condition(() => ((adminApplied.has(key) || adminRefused.has(key)) && projected()) || fault !== null);
      if (fault) throw faultFailure(fault);
      const refused = adminRefused.get(key);
      if (refused && !adminApplied.has(key)) throw invalidTransition(refused);
      return snapshot();
    };

  const invalidTransition = (message: string) =>
    ApplicationFailure.create({ type: REFUSALS.invalidTransition, message, nonRetryable: true });

  /** Why `action` cannot apply to the referral as it is now, or null when it can. */
  function adminRefusal(action: AdminAction, request: AdminActionInput): string | null {
    if (stopping) return `referral ${referralId} is stopping after a fault`;
    if (isTerminal(state.status)) return `referral ${referralId} has already ended as ${state.status}`;
    if (action === 'approve' && state.status !== 'under_review')
      return `referral ${referralId} is ${state.status}, not under review`;
    if (action === 'extend') {
      const current = currentDeadline();
      if (!current) return `referral ${referralId} has no deadline to extend while ${state.status}`;
      const next = extendedDeadline(current, request);
      if (next === null || Date.parse(next) <= Date.parse(current))
        return `the deadline ${current} can only move later (asked for ${request.until ?? `+${request.by}`})`;
      // every deadline stays an instant timers and PostgreSQL can hold, however many extensions pile up
      if (Date.parse(next) > Date.now() + MAX_TERM_DURATION_MS)
        return `the deadline cannot move past ${new Date(Date.now() + MAX_TERM_DURATION_MS).toISOString()}`;
    }
    if (action === 'move') {
      const plan = planMove(request.program!);
      if (plan.outcome === 'refused') return `${plan.code}: ${plan.reason}`;
    }
    return null;
  }

  for (const [update, action] of [
    [approveUpdate, 'approve'],
    [rejectUpdate, 'reject'],
    [extendUpdate, 'extend'],
    [moveTermsUpdate, 'move'],
  ] as const) {
    setHandler(update, adminHandler(action), {
      validator: (request: AdminActionInput) => {
        if (adminApplied.has(`${action}:${request.requestId}`)) return;
        const refused = adminRefusal(action, request);
        if (refused) throw invalidTransition(refused);
      },
    });
  }

  // --- transitions: the only place the status changes ----------------------------------------------------------

  const now = (): string => new Date().toISOString();
  /**
   * A timeline entry's instant: the task's clock, never before the entry ahead of it. The projection judges which write
   * stands by it (activities/projection-order.ts), so it must not step back even if the server's clock did.
   */
  const entryInstant = (): string => {
    const at = now();
    lastWriteAt = lastWriteAt !== undefined && Date.parse(lastWriteAt) > Date.parse(at) ? lastWriteAt : at;
    return lastWriteAt;
  };

  /**
   * Appends a timeline entry and writes it with the referral to the projection. `fromInput`: the entry follows from
   * the workflow's input alone (the claim), so any retry of its task makes the same decision and writes at once.
   * `provisional`: the entry is counted progress, written at once too; the retry of a lost task writes over it.
   * `endsFailed`: the entry ends a failed referral, written with its voucher's void in one transaction.
   * `closes`: the entry ends a failed referral, closed in the projection by the same write.
   */
  async function record(
    kind: string,
    detail?: Record<string, unknown>,
    options: {
      fromInput?: boolean;
      provisional?: boolean;
      endsFailed?: boolean;
      closes?: boolean;
      voucherIssuedAt?: string | undefined;
    } = {},
  ): Promise<void> {
    orderEventsAtWrite = orderEventsTaken;
    progressMayBeLost = false;
    state.seq += 1;
    const entry: TimelineEntry = { seq: state.seq, at: entryInstant(), kind, status: state.status, detail };
    state.recentTimeline = [...state.recentTimeline, entry].slice(-RECENT_TIMELINE_SIZE);
    // Taken now: the write shows the decision as it was made, not what arrives while the write is scheduled.
    const referral = projection();
    const closedAt = options.closes ? { closedAt: entry.at } : {};
    if (options.endsFailed) {
      // the voucher is voided for the reason the referral ended
      const voidVoucher = rewards.voucher ? { code: rewards.voucher.code, reason: kind } : undefined;
      const ended = await decided.projectReferralEnd({ referral, claim: input.claim, entry, voidVoucher, ...closedAt });
      if (ended.voucher) entry.detail = { ...entry.detail, voucher: ended.voucher };
      closedByEnd = ended.closed === true;
    } else if (options.voucherIssuedAt) {
      const { amount, validFor } = reward.refereeVoucher;
      const issuedAt = options.voucherIssuedAt;
      const currency = program.currency;
      const voucher = {
        customerId: state.refereeId!,
        amount,
        currency,
        issuedAt,
        expiresAt: addDuration(issuedAt, validFor),
      };
      const given = await decided.projectRegistration({ referral, claim: input.claim, entry, voucher });
      rewards.voucher = { code: given.code, amount, currency, expiresAt: given.expiresAt };
      const issued = voucherIssuedEntry(entry, rewards.voucher);
      state.seq = issued.seq;
      state.recentTimeline = [...state.recentTimeline, issued].slice(-RECENT_TIMELINE_SIZE);
    } else if (options.provisional) {
      await local.projectReferral({ referral, claim: input.claim, entry });
    } else {
      const write = projectDecidedOnly && !options.fromInput ? decided.projectReferral : projectReferral;
      // answered with nothing before writes said whether they were written (histories from then replay it)
      const written: { closed?: true } | undefined = await write({ referral, claim: input.claim, entry, ...closedAt });
      if (options.closes) closedByEnd = written?.closed === true;
    }
    if (state.status !== 'pending') registrationProjected = true;
    projectedSeq = state.seq;
    projectedProgress = progressKey(referral.progress);
  }

  /** The referral as the projection's row shows it. */
  function projection(): ProjectReferralInput['referral'] {
    const {
      recentTimeline: _recent,
      countedOrders: _counted,
      graceEndsAt: _graceEndsAt,
      rewards: _rewards,
      milestone: _milestone,
      ...referral
    } = snapshot();
    return referral;
  }

  /**
   * Counted orders and spend reach the projection as they change, not only with the next status, so reads and lists
   * show progress. Histories recorded before this existed replay without it.
   */
  async function projectProgressIfChanged(q: Qualification): Promise<boolean> {
    if (progressKey(q) === projectedProgress) {
      if (progressWrittenLocally && progressUnconfirmed()) await correctLostProgress(q);
      return false;
    }
    if (!since(PATCHES.projectProgress)) return false;
    await record(
      COUNTED_PROGRESS,
      { countedOrders: q.countedOrders, countedSpend: q.countedSpend },
      { provisional: progressWrittenLocally },
    );
    return true;
  }

  /** Order events since the last write may have moved the count in a lost task (see correctLostProgress). */
  function progressUnconfirmed(): boolean {
    return progressCorrectedWhenMoved ? progressMayBeLost : orderEventsTaken !== orderEventsAtWrite;
  }

  /**
   * A task that took order events and found no change to show may be the retry of a lost task that counted them and
   * wrote its count at the next seq: this task's count goes over that entry, and only over it. The projection answers
   * whether there was one (in a task that was not retried there is none, nothing is written, and no lost task's write
   * lands after); the answer is in history, so a replay takes the seq exactly when the run did.
   */
  async function correctLostProgress(q: Qualification): Promise<void> {
    orderEventsAtWrite = orderEventsTaken;
    progressMayBeLost = false;
    const entry: TimelineEntry = {
      seq: state.seq + 1,
      at: entryInstant(),
      kind: COUNTED_PROGRESS,
      status: state.status,
      detail: { countedOrders: q.countedOrders, countedSpend: q.countedSpend },
    };
    const { written } = await local.projectReferral({
      referral: projection(),
      claim: input.claim,
      entry,
      correctsOnly: true,
    });
    if (!written) return;
    state.seq = entry.seq;
    state.recentTimeline = [...state.recentTimeline, entry].slice(-RECENT_TIMELINE_SIZE);
    projectedSeq = state.seq;
  }

  async function moveTo(
    status: ReferralStatus,
    kind: string,
    detail?: Record<string, unknown>,
    options: { voucherIssuedAt?: string } = {},
  ): Promise<void> {
    const failed = status === 'expired' || status === 'cancelled' || status === 'rejected';
    // One write ends a failed referral that has a voucher: voided with the end shown, in one transaction.
    const inOneWrite = failed && Boolean(rewards.voucher) && voucherInJoinedWrites === true;
    // A failed referral's voucher is void before the end is shown, so whoever waits on the end sees it void.
    const voucher = failed && rewards.voucher && !inOneWrite ? await voidVoucher(kind) : null;
    state.status = status;
    if (isTerminal(status)) {
      state.endedAt = now();
      state.endReason = kind;
    }
    upsertSearchAttributes([
      { key: ReferralStatusKey, value: status },
      ...(state.refereeId ? [{ key: RefereeIdKey, value: state.refereeId }] : []),
      ...(reviewEnabled && flags.length > 0 ? [{ key: ReferralFlagsKey, value: flags }] : []),
    ]);
    await record(kind, voucher ? { ...detail, voucher } : detail, {
      ...options,
      endsFailed: inOneWrite,
      closes: failed && closedWithFailedEnd,
    });
  }

  const msUntil = (iso: string | null): number => (iso ? Math.max(0, Date.parse(iso) - Date.now()) : 0);

  const historyLimit = input.historyEventLimit ?? DEFAULT_HISTORY_EVENT_LIMIT;
  const historyIsLong = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= historyLimit;

  /**
   * Waits until `wake` holds, a cancel or an admin action arrives, history grows long, or the deadline passes (returns
   * false). A deadline of business facts waits out the grace after it; an admin's deadline (`grace: false`) does not.
   */
  const waitFor = async (
    wake: () => boolean,
    deadline: string | null,
    options: { grace?: boolean } = {},
  ): Promise<boolean> => {
    const woken = () =>
      wake() || cancelRequest !== null || adminQueue.length > 0 || lateOrders.length > 0 || historyIsLong();
    const ms = msUntil(options.grace === false ? deadline : decidesAt(deadline));
    // A deadline already due is decided now: a timer of 0 ms is a server round trip, about a second on the dev server.
    if (ms === 0 && since(PATCHES.dueWithoutTimer)) return woken();
    return condition(woken, ms);
  };

  /** Order events that change nothing, each shown on the timeline once as a `late_fact` with why. */
  async function recordLate(queue: OrderFacts[], reason: string): Promise<void> {
    while (queue.length > 0) {
      const order = queue.shift()!;
      lateEventIds.add(order.eventId);
      await record('late_fact', {
        fact: 'order',
        eventId: order.eventId,
        orderId: order.orderId,
        orderStatus: order.status,
        occurredAt: order.occurredAt,
        reason,
      });
    }
  }

  /** Orders signalled after the referral ended, before its workflow closed: late facts, as the intake shows later ones. */
  function recordOrdersAfterEnd(): Promise<void> {
    return recordLate(ordersAfterEnd, 'the referral had ended');
  }

  /** Late order events reach the timeline (and the projection), each as a `late_fact` that changes nothing else. */
  function recordLateFacts(): Promise<void> {
    return recordLate(lateOrders, 'reported after the qualification window and its grace had ended');
  }

  /**
   * Once the referral has ended, events still held back for its last decision are not lost: a completed referral's
   * order book takes them (its orders go on mattering after completion); any other end shows them on the timeline.
   */
  async function settleHeldBackOrders(): Promise<void> {
    if (heldBackOrders.length === 0 || !since(PATCHES.graceByBusinessTime)) return;
    const waiting = heldBackOrders;
    heldBackOrders = [];
    for (const order of waiting) {
      if (state.status === 'completed') {
        bookOrderEvent(order);
        continue;
      }
      await record('late_fact', {
        fact: 'order',
        eventId: order.eventId,
        orderId: order.orderId,
        orderStatus: order.status,
        occurredAt: order.occurredAt,
        reason: 'dated after the deadline that ended the referral',
      });
    }
  }

  /** Order events held back during a grace apply once their deadline is decided. */
  function applyHeldBackOrders(): void {
    const inGrace = deadlineInGrace();
    const waiting = heldBackOrders;
    heldBackOrders = [];
    for (const order of waiting) {
      if (inGrace !== null && Date.parse(order.occurredAt) > inGrace) heldBackOrders.push(order);
      else {
        bookOrderEvent(order);
        // released in a task that may be lost, after events its retry takes first
        if (progressCorrectedWhenMoved) progressMayBeLost = true;
      }
    }
  }

  async function cancelIfRequested(): Promise<boolean> {
    if (!cancelRequest) return false;
    // Never leave a referee reserved by a registration that lands after the cancel.
    await condition(() => !registering());
    const before = auditView();
    const { actor, reason, requestId } = cancelRequest;
    appliedCancelId = requestId;
    await moveTo('cancelled', 'cancelled', {
      actor,
      reason: reason ?? null,
      ...(requestId !== undefined ? { requestId } : {}),
    });
    // Cancels sent with a request id (the admin route's) are in the audit log like the other admin actions.
    if (requestId !== undefined && reviewEnabled) {
      await remote.recordAdminAction({
        requestId,
        action: 'cancel',
        referralId,
        actor,
        reason: reason ?? null,
        at: now(),
        before,
        after: auditView(),
      });
    }
    return true;
  }

  async function continueAsNewIfLong(): Promise<void> {
    if (!historyIsLong()) return;
    // A register or cancel update waits for this loop to apply its fact: apply it first, then hand over.
    const factWaiting = () =>
      (state.status === 'pending' && state.registration !== null) || cancelRequest !== null || adminQueue.length > 0;
    await condition(() => allHandlersFinished() || factWaiting());
    if (!allHandlersFinished()) return;
    log.info('continuing as new to keep the history bounded', { historyLength: workflowInfo().historyLength });
    const next: CarriedReferral = {
      ...state,
      orders: [...orders.values()],
      ...(ordersByReport ? { orderHistory: [...orderHistory.values()].flat() } : {}),
      projectedProgress,
      heldBackOrders,
      lateOrders,
      rewards: { ...rewards },
      ...(milestone ? { milestone: { ...milestone } } : {}),
      lateEventIds: [...lateEventIds],
      lateWindowOrders,
      flags,
      review: reviewDue,
      adminRequestsApplied: [...adminApplied],
      holdFloor,
      extendedDeadlines: { ...extendedDeadlines },
      // set or cleared: `state` still holds what the previous run carried
      progressUnconfirmed: progressWrittenLocally && progressUnconfirmed() ? true : undefined,
      ...(lastWriteAt !== undefined ? { lastWriteAt } : {}),
    };
    // as the current type: the next run follows every change, as a new run of the first type would
    const continueReferral = makeContinueAsNewFunc<typeof referralLifecycle>({
      workflowType: 'referralLifecycle',
      typedSearchAttributes: workflowInfo().typedSearchAttributes,
    });
    // a moved referral goes on under the version it was moved to
    await continueReferral({ ...input, program, carried: next });
  }

  // --- stages ------------------------------------------------------------------------------------------------------

  async function awaitRegistration(): Promise<void> {
    const woke = await waitFor(() => state.registration !== null, state.deadlines.expiresAt);
    if (await cancelIfRequested()) return;
    if (await applyAdminRequests()) return;
    if (state.registration) return enterRegistered();
    if (woke) return; // only the history grew long
    // A registration being checked right now finishes first: its referee is already reserved if it succeeds.
    await condition(() => !registering());
    if (state.registration) return enterRegistered();
    await moveTo('expired', 'referral_expired', { expiresAt: state.deadlines.expiresAt });
  }

  async function enterRegistered(): Promise<void> {
    const registeredAt = state.registration!.registeredAt;
    state.deadlines.qualifyBy = addDuration(registeredAt, terms.qualificationWindow);
    state.deadlines.expiresAt = null;
    if (reviewEnabled && flags.length >= review.flagsToReview) {
      // Nothing is paid while an admin looks: the voucher waits for the approval.
      reviewDue = { decideBy: addDuration(now(), review.decisionWindow) };
      await moveTo('under_review', 'review_started', {
        refereeId: state.refereeId,
        registeredAt,
        flags,
        decideBy: reviewDue.decideBy,
      });
    } else {
      const detail = { refereeId: state.refereeId, registeredAt, ...(flags.length > 0 ? { flags } : {}) };
      const voucherDue = voucherEnabled && !rewards.voucher;
      // The referee's voucher in the registration's own write: one activity before the signup is answered, not three.
      if (voucherDue && voucherInJoinedWrites === true) {
        await moveTo('registered', 'registered', detail, { voucherIssuedAt: registeredAt });
      } else {
        await moveTo('registered', 'registered', detail);
        if (voucherDue) await issueVoucher(registeredAt);
      }
    }
    // Orders reported before this signup was: read only now that the referee is reserved, so none slips between.
    const early = await takeOrdersAwaitingSignup({ referralId, refereeId: state.refereeId! });
    // judged like any other delivery: one reported after the window's grace is as late as if it had been signalled
    for (const order of early) (ordersByReport ? acceptOrderEvent : bookOrderEvent)(order);
  }

  /**
   * Before a deadline is decided: the referee's orders the intake accepted whose delivery is still under way (our own
   * outage or restart delayed it) are taken from the inbox, so a fact reported in time is never decided without.
   * Returns whether they changed what the stage sees (it then runs again).
   */
  async function takeOrdersReportedInTime(): Promise<boolean> {
    if (!ordersByReport || !state.refereeId) return false;
    const seen = ordersVersion;
    const late = lateOrders.length;
    for (const order of await takeReportedOrders({ referralId, refereeId: state.refereeId })) acceptOrderEvent(order);
    return ordersVersion !== seen || lateOrders.length !== late;
  }

  async function awaitQualification(): Promise<void> {
    const seen = ordersVersion;
    const q = qualification()!;
    if (q.qualifiedAtMs !== null) return enterQualified(q);
    if (await projectProgressIfChanged(q)) return;
    const woke = await waitFor(() => ordersVersion !== seen, state.deadlines.qualifyBy);
    if (await cancelIfRequested()) return;
    if (await applyAdminRequests()) return;
    if (!woke) {
      if (await takeOrdersReportedInTime()) return;
      const last = qualification()!;
      if (last.qualifiedAtMs !== null) return enterQualified(last);
      await moveTo('expired', 'qualification_window_closed', {
        qualifyBy: state.deadlines.qualifyBy,
        countedOrders: last.countedOrders,
        countedSpend: last.countedSpend,
      });
    }
  }

  async function enterQualified(q: Qualification): Promise<void> {
    state.qualifiedAt = new Date(q.qualifiedAtMs!).toISOString();
    // A hold of 0 completes the referral as it qualifies; qualifying again never ends before an admin's extension.
    state.deadlines.holdUntil = ordersByReport
      ? isoAt(holdEndAfter(q.qualifiedAtMs!))
      : addDuration(state.qualifiedAt, terms.rewardHold, { allowZero: true });
    await moveTo('qualified', 'qualified', {
      qualifiedAt: state.qualifiedAt,
      countedOrders: q.countedOrders,
      countedSpend: q.countedSpend,
    });
  }

  /**
   * Qualified: the reward waits out the hold. Every pass first re-reads the orders, so a refund that arrived while
   * the previous step was being projected is never missed.
   */
  async function holdReward(): Promise<void> {
    const seen = ordersVersion;
    const q = qualification()!;
    if (q.qualifiedAtMs === null) return loseQualification(q);
    const qualifiedAt = new Date(q.qualifiedAtMs).toISOString();
    if (qualifiedAt !== state.qualifiedAt) {
      // Still qualified by the orders that remain; the hold runs from when they met the criteria.
      state.qualifiedAt = qualifiedAt;
      const moved = addDuration(qualifiedAt, terms.rewardHold, { allowZero: true });
      state.deadlines.holdUntil = holdFloor && Date.parse(holdFloor) > Date.parse(moved) ? holdFloor : moved;
      return record('hold_moved', { qualifiedAt, holdUntil: state.deadlines.holdUntil });
    }
    await projectProgressIfChanged(q);
    const woke = await waitFor(() => ordersVersion !== seen, state.deadlines.holdUntil);
    if (await cancelIfRequested()) return;
    if (await applyAdminRequests()) return;
    if (!woke) {
      // A run begun before LIFECYCLE_LATER_CHANGES asks the late loss's change before the read that may bring the loss,
      // so that its marker is in history ahead of the read's result (asked again then, it answers the same). Histories
      // recorded before asked it after the read, with no command between: keep none between the read and the loss.
      since(PATCHES.lateLossCountsWindowOrders);
      if (await takeOrdersReportedInTime()) return;
      state.completedAt = now();
      let tier: { name: string; multiplier: number } | null = null;
      if (referrerPointsEnabled && !rewards.referrerPoints) {
        const counted = qualification()!.counted.map((order) => order.orderId);
        tier = since(PATCHES.tierMultiplier) ? await referrerTier(state.completedAt) : null;
        rewards.referrerPoints = await requestLot(
          'referral',
          reward.referrerPoints,
          state.completedAt,
          counted,
          tier?.multiplier ?? 1,
        );
      }
      const lot = rewards.referrerPoints;
      await moveTo('completed', 'completed', {
        holdUntil: state.deadlines.holdUntil,
        ...(lot ? { points: lot.points, lotWorkflowId: lot.lotWorkflowId } : {}),
        ...(tier ? { tier: tier.name, multiplier: tier.multiplier } : {}),
      });
    }
  }

  /** Under review: the admin's approval or rejection, or the decision window runs out and the referral is rejected. */
  async function awaitReview(): Promise<void> {
    const decideBy = reviewDue!.decideBy;
    const woke = await waitFor(() => false, decideBy, { grace: false });
    if (await cancelIfRequested()) return;
    if (await applyAdminRequests()) return;
    if (woke) return;
    reviewDue = null;
    await moveTo('rejected', 'review_expired', { decideBy, flags });
  }

  // --- admin actions -----------------------------------------------------------------------------------------------

  /** The deadline an extension moves: the current stage's. */
  function currentDeadline(): string | null {
    return state.status === 'under_review' ? (reviewDue?.decideBy ?? null) : stageDeadline();
  }

  function extendedDeadline(current: string, request: AdminActionInput): string | null {
    if (request.until) return new Date(request.until).toISOString();
    return request.by ? addDuration(current, request.by) : null;
  }

  function setCurrentDeadline(deadline: string): void {
    if (state.status === 'under_review') reviewDue = { decideBy: deadline };
    else if (state.status === 'pending') state.deadlines.expiresAt = extendedDeadlines.expiresAt = deadline;
    else if (state.status === 'registered') state.deadlines.qualifyBy = extendedDeadlines.qualifyBy = deadline;
    else if (state.status === 'qualified') {
      state.deadlines.holdUntil = deadline;
      holdFloor = deadline;
    }
  }

  const auditView = (): AdminActionRecord['before'] => ({
    status: state.status,
    deadlines: { ...state.deadlines },
    review: reviewDue ? { ...reviewDue } : null,
    programVersion: program.version,
    qualifiedAt: state.qualifiedAt,
  });

  /**
   * Applies the admin actions waiting, in the order they came, each checked against the referral as it is now; each
   * applied one is on the timeline and in the audit log. Returns whether any changed the referral (its stage runs again).
   */
  async function applyAdminRequests(): Promise<boolean> {
    let changed = false;
    while (adminQueue.length > 0) {
      const { action, request } = adminQueue.shift()!;
      const key = `${action}:${request.requestId}`;
      if (adminApplied.has(key) || adminRefused.has(key)) continue;
      const refused = adminRefusal(action, request);
      if (refused) {
        adminRefused.set(key, refused);
        continue;
      }
      const before = auditView();
      const who = { actor: request.actor, requestId: request.requestId, reason: request.reason ?? null };
      if (action === 'approve') {
        reviewDue = null;
        await moveTo('registered', 'review_approved', who);
        // valid from the approval: the review must not eat into the referee's time to use it
        if (voucherEnabled && !rewards.voucher) await issueVoucher(now());
      } else if (action === 'reject') {
        // Never leave a referee reserved by a registration that lands after the rejection.
        await condition(() => !registering());
        reviewDue = null;
        await moveTo('rejected', 'rejected', who);
      } else if (action === 'move') {
        await moveTerms(request.program!, who);
      } else {
        const from = currentDeadline()!;
        const to = extendedDeadline(from, request)!;
        setCurrentDeadline(to);
        await record('deadline_extended', { ...who, status: state.status, from, to });
      }
      adminApplied.add(key);
      await remote.recordAdminAction({
        requestId: request.requestId,
        action,
        referralId,
        actor: request.actor,
        reason: request.reason ?? null,
        at: now(),
        before,
        after: auditView(),
      });
      changed = true;
    }
    return changed;
  }

  /**
   * The referral goes on under another version of its programme: its running deadlines counted again from their
   * anchors (terms-move.ts), the new terms deciding everything from here on. The stage then runs again to them.
   */
  async function moveTerms(to: ProgramSnapshot, who: { actor: string; requestId: string; reason: string | null }) {
    const plan = planMove(to);
    if (plan.outcome !== 'move') throw new Error(`a move refused after its check: ${plan.reason}`);
    program = to;
    terms = to.terms;
    reward = rewardTerms(terms);
    review = reviewTerms(terms);
    state.deadlines = { ...plan.deadlines };
    if (state.status === 'qualified') state.qualifiedAt = plan.qualifiedAt;
    await record('terms_moved', {
      ...who,
      fromVersion: plan.fromVersion,
      toVersion: plan.toVersion,
      deadlines: plan.changes.deadlines,
      terms: plan.changes.terms,
      ...(plan.changes.qualifiedAt ? { qualifiedAt: plan.changes.qualifiedAt } : {}),
    });
  }

  /** Actions that waited while the referral ended: each is answered with why it no longer applies. */
  function refuseWaitingAdminRequests(): void {
    for (const { action, request } of adminQueue.splice(0)) {
      const key = `${action}:${request.requestId}`;
      if (!adminApplied.has(key)) adminRefused.set(key, `referral ${referralId} has already ended as ${state.status}`);
    }
  }

  async function loseQualification(q: Qualification): Promise<void> {
    const windowDecided = Date.now() > Date.parse(decidesAt(state.deadlines.qualifyBy)!);
    // Past the window, the orders it counted may qualify the referral still: the hold then runs again from them.
    if (windowDecided && since(PATCHES.lateLossCountsWindowOrders) && (await qualifiesByWindowOrders())) return;
    state.qualifiedAt = null;
    state.deadlines.holdUntil = null;
    const detail = { countedOrders: q.countedOrders, countedSpend: q.countedSpend };
    // Back to registered while the window (or its grace) is open: orders dated inside it may still count.
    if (!windowDecided) {
      await moveTo('registered', 'qualification_lost', detail);
    } else {
      await moveTo('expired', 'qualification_lost_after_window', detail);
    }
  }

  /**
   * The hold holds back orders dated after it, so none can undo the reward it is earning. A loss decided after the
   * window's grace (our own outage can delay it that long) must not lose those dated inside the window, nor orders
   * reported in time whose delivery is still under way: the window's decision would have counted them. Every order held
   * back is booked, so a refund dated after the window still breaks a new hold it falls in; if the referral qualifies,
   * its hold runs again from when it did. If not, those dated after the window are shown as late as it ends. Returns
   * whether the referral is still qualified.
   */
  async function qualifiesByWindowOrders(): Promise<boolean> {
    await takeOrdersReportedInTime();
    const held = heldBackOrders;
    heldBackOrders = [];
    for (const order of held) bookOrderEvent(order);
    // judged as the window judges, each qualification followed through its own hold
    state.deadlines.holdUntil = null;
    const q = qualification()!;
    if (q.qualifiedAtMs === null) {
      const windowEndsMs = Date.parse(state.deadlines.qualifyBy!);
      heldBackOrders = held.filter((order) => Date.parse(order.occurredAt) > windowEndsMs);
      return false;
    }
    state.qualifiedAt = isoAt(q.qualifiedAtMs);
    state.deadlines.holdUntil = isoAt(holdEndAfter(q.qualifiedAtMs));
    await record('hold_moved', { qualifiedAt: state.qualifiedAt, holdUntil: state.deadlines.holdUntil });
    return true;
  }

  // --- rewards -----------------------------------------------------------------------------------------------------

  /** The referee's voucher, issued once however often this runs (the activity is idempotent by the referral). */
  async function issueVoucher(registeredAt: string): Promise<void> {
    const { amount, validFor } = reward.refereeVoucher;
    const issued = await remote.issueRefereeVoucher({
      referralId,
      customerId: state.refereeId!,
      amount,
      currency: program.currency,
      issuedAt: registeredAt,
      expiresAt: addDuration(registeredAt, validFor),
    });
    rewards.voucher = { code: issued.code, amount, currency: program.currency, expiresAt: issued.expiresAt };
    await record('voucher_issued', { ...rewards.voucher });
  }

  /** The referral failed: its voucher is void, unless the referee used it already (a used one stays used). */
  async function voidVoucher(reason: string): Promise<{ code: string; status: string | null }> {
    const voided = await remote.voidRefereeVoucher({ referralId, reason, at: now() });
    return { code: rewards.voucher!.code, status: voided.status };
  }

  /**
   * The referrer's tier at this completion: counted once for the referrer (its place in their completions), the tier
   * in force is the one reached by the completions before it, so the completion that crosses a threshold is paid at
   * the old multiplier and the next one at the new.
   */
  async function referrerTier(completedAt: string): Promise<{ name: string; multiplier: number }> {
    const { ordinal } = await remote.recordReferrerCompletion({
      referralId,
      referrerId: input.referrerId,
      completedAt,
    });
    const { tier } = tierFor(tierTerms(terms), ordinal - 1);
    return { name: tier.name, multiplier: tier.multiplier };
  }

  /**
   * Points for the referrer as a lot: its own workflow credits it and holds its expiry, so it is started abandoned and
   * outlives this referral. Once per referral and kind: the child's id and the ledger's credit key both say so, and a
   * child already started by an earlier attempt of this step is the same lot.
   */
  async function requestLot(
    kind: Extract<LotSourceKind, 'referral' | 'milestone'>,
    points: number,
    creditedAt: string,
    orderIds: string[],
    multiplier = 1,
  ): Promise<RequestedLot> {
    const credited = creditedPoints(points, multiplier);
    const lotWorkflowId = pointLotWorkflowId(`${kind}-${referralId}`);
    const request: LotCreditRequest = {
      customerId: input.referrerId,
      points: credited,
      creditedAt,
      expiresAt: lotExpiresAt(creditedAt, reward.pointValidity, reward.timeZone),
      source: { kind, referralId, programId: program.id, programVersion: program.version },
      qualifyingOrderIds: orderIds,
      creditKey: `${kind}:${referralId}`,
    };
    try {
      await startChild(pointLotWorkflow, {
        workflowId: lotWorkflowId,
        args: [request],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      log.info('the lot was requested before: its workflow stands', { referralId, lotWorkflowId });
    }
    return { points: credited, lotWorkflowId, creditKey: request.creditKey, creditedAt, expiresAt: request.expiresAt };
  }

  /** Completed orders from registration to the milestone's deadline, by the same per-order rules as qualification. */
  function milestoneRule(by: string): QualificationRule {
    return {
      currency: program.currency,
      fromMs: Date.parse(state.registration!.registeredAt),
      toMs: Date.parse(by),
      minOrders: reward.milestone.orders,
      minSpend: 0,
    };
  }

  /**
   * Completed: the referral keeps counting the referee's completed orders until the milestone's order within its window
   * (bonus points for the referrer, once), or until the window and its grace close without it. Status stays completed.
   */
  async function trackMilestone(): Promise<void> {
    milestone ??= { by: addDuration(state.registration!.registeredAt, reward.milestone.window), outcome: null };
    const m = milestone;
    // A cancel accepted while the completion was being written came too late: its update answers with the completion.
    cancelRequest = null;
    refuseWaitingAdminRequests();
    countsLateWindowOrders = since(PATCHES.milestoneCountsLateWindowOrders);
    while (m.outcome === null) {
      applyHeldBackOrders();
      await recordLateFacts();
      await continueAsNewIfLong();
      const seen = ordersVersion;
      const seenLate = lateWindowOrders.length;
      const count = assessQualification(milestoneOrders(), milestoneRule(m.by));
      if (count.qualifiedAtMs !== null) return reachMilestone(m, count);
      const woke = await waitFor(
        () => ordersVersion !== seen || (countsLateWindowOrders && lateWindowOrders.length !== seenLate),
        m.by,
      );
      if (woke) continue;
      const last = assessQualification(milestoneOrders(), milestoneRule(m.by));
      if (last.qualifiedAtMs !== null) return reachMilestone(m, last);
      m.outcome = 'missed';
      await record('milestone_missed', {
        milestoneBy: m.by,
        countedOrders: last.countedOrders,
        orders: reward.milestone.orders,
      });
    }
  }

  async function reachMilestone(m: { outcome: 'reached' | 'missed' | null }, count: Qualification): Promise<void> {
    const orderIds = count.counted.slice(0, reward.milestone.orders).map((order) => order.orderId);
    rewards.milestone ??= await requestLot('milestone', reward.milestone.points, now(), orderIds);
    m.outcome = 'reached';
    await record('milestone_reached', {
      points: rewards.milestone.points,
      lotWorkflowId: rewards.milestone.lotWorkflowId,
      orderIds,
      reachedAt: new Date(count.qualifiedAtMs!).toISOString(),
    });
  }

  // --- the lifecycle -----------------------------------------------------------------------------------------------

  try {
    await runLifecycle();
  } catch (error) {
    // the local activities of the lifecycle: the claim's first write, counted progress, orders before the signup
    const failure = permanentFailure(error, 'projectReferral or takeOrdersAwaitingSignup');
    if (!failure) throw error;
    await stopOnFault(failure);
  }
  await settleHeldBackOrders();

  // Actions that passed their validator as the referral was ending: answered with why they no longer apply.
  refuseWaitingAdminRequests();
  await condition(allHandlersFinished);
  // a late fact reported in the same moment as the final decision
  await recordLateFacts();
  await recordOrdersAfterEnd();
  // A referral that never reached the projection (a refused signup's) has no row to close.
  if (state.seq > 0 && !closedByEnd && since(PATCHES.closedInProjection)) {
    await decided.markReferralClosed({ referralId, closedAt: now() });
    // reported while the close was being written: still shown
    await recordLateFacts();
    await recordOrdersAfterEnd();
  }
  return snapshot();

  /** The stages in order, until the referral ends (or hands over to a new run). */
  async function runLifecycle(): Promise<void> {
    if (!input.carried) {
      if (input.origin === 'signup') {
        // Exists only once its signup is accepted: a refused signup leaves no referral behind.
        const signupSettled = () => (state.registration !== null || refusal !== null) && !registering();
        if (signupTimerKept) {
          // The day's timer starts in the same task as the signup's registration (a local activity) and is never
          // cancelled. A cancelled one broke replay: when the registration outlived most of the task's timeout, the
          // worker sent the task on with the timer and the registration's result, then cancelled the timer in the next
          // task; a replay takes that result within the first task, so the timer was started and cancelled in one
          // and its start went missing (a nondeterminism error: the referral stuck for good).
          const dayPassed = CancellationScope.nonCancellable(() => sleep(SIGNUP_REGISTRATION_TIMEOUT));
          await Promise.race([condition(signupSettled), dayPassed]);
        } else {
          await condition(signupSettled, SIGNUP_REGISTRATION_TIMEOUT);
        }
        // A registration that started just as the wait ran out finishes first: it may have reserved the referee.
        await condition(() => !registering());
        if (!state.registration) return;
      } else {
        await record('claimed', { channel: input.claim?.channel ?? null }, { fromInput: true });
      }
    }

    while (!isTerminal(state.status)) {
      applyHeldBackOrders();
      await recordLateFacts();
      await continueAsNewIfLong();
      if (state.status === 'pending') await awaitRegistration();
      else if (state.status === 'registered') await awaitQualification();
      else if (state.status === 'qualified') await holdReward();
      else if (state.status === 'under_review') await awaitReview();
    }
    if (state.status === 'completed' && milestoneEnabled && state.registration) await trackMilestone();
  }
}
