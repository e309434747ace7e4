/**
 * The random workload, through the HTTP API only: referrals as scenarios (each a short script of claims, signups,
 * orders and admin actions at chosen business times, some reported late, inside or past the grace), every event
 * sent up to 5 times (some copies at once, some seconds later), and points and voucher traffic beside them
 * (concurrent redemptions for one customer, reversals, over-asks). It records what it sent and what each request was
 * answered, for the model; it judges nothing itself.
 */
import type { ChaosHttp, Answer } from './http';
import type {
  ReferralRecord,
  ScenarioKind,
  SentAdmin,
  SentOrder,
  OrderStatus,
  SentMove,
  SentVoucher,
} from './lifecycle-model';
import type { Prng } from './prng';
import { programTerms, secondVersion, type Profile } from './profile';

export interface Referrer {
  id: string;
  code: string;
  /** referrers whose referees arrive from their own IP and device: two fraud flags, so a review */
  context: { ip: string; deviceId: string } | null;
}

export interface Redemption {
  customerId: string;
  redemptionId: string;
  points: number;
  /** what the model says it must be answered: within the points every run guarantees, or far beyond any balance */
  expected: 201 | 422;
  status: number;
  code: string | null;
  duplicateAnswers: number;
  takenFrom: Array<{ lotId: string; points: number }>;
  reversed: boolean;
  reversalAnswers: number[];
}

export interface WorkloadCounters {
  eventsSent: number;
  duplicates: number;
  byKind: Record<string, number>;
  /** answers that did not match what the request itself promises (a duplicate not flagged as one, say) */
  answerMismatches: string[];
}

export interface FaultHooks {
  /** a signup was just answered 201: the worker is running its activities */
  signupRegistered: () => void;
  /** an order's 202 has just arrived: the API's delivery of it may still be under way */
  orderAccepted: (eventId: string) => void;
  /** when the stack was last whole again after a fault, epoch ms; null before the first fault ends */
  lastRecoveredAt: () => number | null;
  /** when the fault under way began, epoch ms; null while none is */
  faultSince: () => number | null;
}
export type FaultTimes = Pick<FaultHooks, 'lastRecoveredAt' | 'faultSince'>;

/**
 * How long the product itself keeps at one referral before it gives up: a move's step for one referral is tried for
 * ten minutes (`workflows/terms-move-batch.ts`, STEP_BUDGET) and then counted failed.
 */
const PRODUCT_RETRY_BUDGET_MS = 10 * 60_000;
/**
 * A request that got no answer or a 5xx is sent again (http.ts retries each send inside its own budget) for as long as
 * the product keeps at a referral, counted from its sending or from the end of the last fault since, whichever is
 * later: under a fault every 20 to 30 s a fixed span from the sending ran out while the product was still held back.
 */
export const REQUEST_PATIENCE_MS = PRODUCT_RETRY_BUDGET_MS;
/**
 * A move answered 202 finishes, each referral's step within the product's budget; two minutes more for the move's own
 * workflow to take its steps up and record the end once the faults let it.
 */
export const MOVE_FINISH_BUDGET_MS = PRODUCT_RETRY_BUDGET_MS + 2 * 60_000;
/**
 * Faults start no later than the workload's last start and each waits for the stack to be whole again, so they may
 * run on past it (restarts took 4 to 31 s each). Patience is counted from no fault that ends later than this after
 * that instant: the run ends however the faults go.
 */
export const FAULTS_OVERRUN_MS = 10 * 60_000;

/**
 * When patience of `budgetMs` with something begun at `startedAt` runs out. A fault eats none of it: it is counted from
 * the later of the start and the end of the last fault (one under way ends no sooner than now), but from no later than
 * `latestFrom`.
 */
export function patienceEnds(
  startedAt: number,
  budgetMs: number,
  faults: FaultTimes,
  latestFrom: number,
  now = Date.now(),
): number {
  const faultEnded = faults.faultSince() !== null ? now : (faults.lastRecoveredAt() ?? startedAt);
  return Math.min(Math.max(startedAt, faultEnded), Math.max(startedAt, latestFrom)) + budgetMs;
}

/**
 * The run's requests, each sent again under its key while it got no deciding answer and patience lasts: a request
 * that outlived http.ts's budget through a run of outages may still have been applied, and a careful client asks again
 * until an answer says what became of it. The answer keeps the first attempt's sending time.
 */
export function patientHttp(
  http: ChaosHttp,
  patienceFrom: (sentAt: number) => number,
  aborted: () => boolean,
): ChaosHttp {
  return {
    stats: http.stats,
    send: async (...request) => {
      const first = await http.send(...request);
      let decided = first;
      let retries = first.retries;
      while (decided.status === 0 && !aborted() && Date.now() < patienceFrom(first.sentAt)) {
        decided = await http.send(...request);
        retries += 1 + decided.retries;
      }
      return decided === first ? first : { ...decided, sentAt: first.sentAt, retries };
    },
  };
}

export interface Workload {
  referrals: ReferralRecord[];
  redemptions: Redemption[];
  counters: WorkloadCounters;
  adjustments: Array<{ customerId: string; adjustmentId: string; points: number; status: number }>;
  /** the terms of each version the run published, by number */
  versions: Map<number, Profile>;
  moves: Array<{ moveId: string; dryRun: boolean; selected: number; counts: unknown; finished: boolean }>;
}

const SCENARIO_WEIGHTS: Record<ScenarioKind, number> = {
  claim_expires: 6,
  no_orders: 6,
  qualifies: 16,
  refund_in_hold: 10,
  refund_after_hold: 5,
  orders_first: 8,
  late_in_grace: 7,
  late_past_grace: 6,
  after_window: 5,
  cancel: 6,
  reject: 4,
  extend: 6,
  review_approve: 6,
  review_expires: 4,
  review_reject: 4,
};

const FLAGGED: ReadonlySet<ScenarioKind> = new Set(['review_approve', 'review_expires', 'review_reject']);

export async function runWorkload(options: {
  http: ChaosHttp;
  keys: { admin: string; commerce: string };
  profile: Profile;
  prng: Prng;
  programId: string;
  referrers: Referrer[];
  currency: string;
  /** no new scenario starts after this instant (epoch ms); the ones running finish their scripts */
  stopStartingAt: number;
  maxReferrals: number;
  /** how often a new referral starts, on average */
  referralEveryMs: number;
  hooks: FaultHooks;
  aborted: () => boolean;
  log: (line: string) => void;
  /** publish a second version mid-run and move open referrals to it (with a dry run first) */
  termMoves: boolean;
}): Promise<Workload> {
  const { keys, profile: p, prng, currency } = options;
  const latestFrom = options.stopStartingAt + FAULTS_OVERRUN_MS;
  const patience = (startedAt: number, budgetMs: number) =>
    patienceEnds(startedAt, budgetMs, options.hooks, latestFrom);
  const http = patientHttp(options.http, (sentAt) => patience(sentAt, REQUEST_PATIENCE_MS), options.aborted);
  const counters: WorkloadCounters = {
    eventsSent: 0,
    duplicates: 0,
    byKind: {},
    answerMismatches: [],
  };
  const versions = new Map<number, Profile>([[1, p]]);
  const moves: Workload['moves'] = [];
  /** when version 2 was published: a referral made before it started under 1, one made after it under 2 */
  let published: { sentAtMs: number; answeredAtMs: number } | null = null;
  /** a referral's first answer says which version it started under; the instant it was made says which it must be */
  const startedUnder = (record: ReferralRecord, answer: Answer) => {
    const version = typeof answer.body?.programVersion === 'number' ? (answer.body.programVersion as number) : null;
    record.programVersion = version;
    const due =
      published === null || answer.at < published.sentAtMs ? 1 : answer.sentAt > published.answeredAtMs ? 2 : null;
    if (due !== null && version !== due)
      counters.answerMismatches.push(`${record.key}: started under version ${version}, made when ${due} was current`);
  };
  const referrals: ReferralRecord[] = [];
  const redemptions: Redemption[] = [];
  const adjustments: Workload['adjustments'] = [];
  const counted = (kind: string, copies: number) => {
    counters.eventsSent += 1;
    counters.duplicates += copies - 1;
    counters.byKind[kind] = (counters.byKind[kind] ?? 0) + 1;
  };
  const sleepUntil = async (at: number) => {
    while (Date.now() < at && !options.aborted()) await sleep(Math.min(500, at - Date.now()));
  };
  const copiesOf = (r: Prng) => (r.chance(0.5) ? 1 : r.pick([2, 2, 3, 3, 4, 5]));

  /**
   * Sends one request `copies` times: the first, then some copies at the same moment and the others up to 3 s later.
   * Returns the first copy's answer and all of them.
   */
  async function withCopies(
    r: Prng,
    copies: number,
    send: () => Promise<Answer>,
  ): Promise<{ first: Answer; all: Answer[] }> {
    const together = r.int(0, copies - 1);
    const delays = Array.from({ length: copies - 1 - together }, () => r.int(200, 3_000));
    const firstAndTogether = await Promise.all(Array.from({ length: together + 1 }, () => send()));
    const later = await Promise.all(delays.map(async (d) => (await sleep(d), send())));
    return { first: firstAndTogether[0]!, all: [...firstAndTogether, ...later] };
  }

  // --- the referrers' starting credit: points to redeem from before any referral completes ---
  await Promise.all(
    options.referrers.map(async (referrer) => {
      const adjustmentId = `start-${referrer.id}`;
      const answer = await http.send('POST', `/v1/admin/customers/${referrer.id}/points/adjustments`, keys.admin, {
        adjustmentId,
        points: p.startingCredit,
        reason: 'chaos run starting credit',
        validity: '1 day',
      });
      counted('adjustment', 1);
      adjustments.push({ customerId: referrer.id, adjustmentId, points: p.startingCredit, status: answer.status });
    }),
  );

  // --- one referral's script ---
  async function runScenario(n: number, kind: ScenarioKind, r: Prng): Promise<void> {
    const referrer = FLAGGED.has(kind)
      ? r.pick(options.referrers.filter((x) => x.context))
      : r.pick(options.referrers.filter((x) => !x.context));
    const refereeId = `referee-${n}-${r.hex(6)}`;
    const email = `${refereeId}@example.com`;
    const record: ReferralRecord = {
      key: `r${n}`,
      kind,
      referrerId: referrer.id,
      refereeId,
      flagged: FLAGGED.has(kind),
      referralId: null,
      programVersion: null,
      moves: [],
      claim: null,
      signup: null,
      lateSignup: null,
      orders: [],
      admin: [],
      voucher: null,
      incomplete: null,
    };
    referrals.push(record);
    let orderSeq = 0;

    const claim = async () => {
      const idempotencyKey = r.uuid();
      const copies = copiesOf(r);
      const { first } = await withCopies(r, copies, () =>
        http.send(
          'POST',
          '/v1/referrals',
          keys.commerce,
          { code: referrer.code, invitee: { email } },
          { 'idempotency-key': idempotencyKey },
        ),
      );
      counted('claim', copies);
      if (first.status !== 201) {
        record.incomplete = `claim answered ${first.status}`;
        return false;
      }
      record.referralId = first.body.id as string;
      startedUnder(record, first);
      record.claim = {
        referralId: first.body.id as string,
        createdAtMs: Date.parse(first.body.createdAt),
        expiresAtMs: Date.parse(first.body.expiresAt),
      };
      return true;
    };

    const signup = async (occurredAtMs: number, via: 'code' | 'referral') => {
      const eventId = r.uuid();
      const copies = copiesOf(r);
      const body = {
        eventId,
        customerId: refereeId,
        ...(via === 'referral' && record.referralId ? { referralId: record.referralId } : { code: referrer.code }),
        email,
        occurredAt: new Date(occurredAtMs).toISOString(),
        ...(referrer.context && record.flagged ? { context: referrer.context } : {}),
      };
      const { first, all } = await withCopies(r, copies, () =>
        http.send('POST', '/v1/events/signups', keys.commerce, body),
      );
      counted('signup', copies);
      // the first answer that decided it (a copy sent at once may have been the one to register it)
      // A copy whose first attempt registered it but lost the answer is told `duplicate` with the same body.
      const registeredBy = (a: Answer) =>
        a.status === 201 || (a.status === 200 && a.body?.duplicate === true && typeof a.body?.referralId === 'string');
      const decided = all.find((a) => a.status === 201) ?? all.find(registeredBy) ?? first;
      record.signup = {
        eventId,
        occurredAtMs,
        status: registeredBy(decided) ? 201 : decided.status,
        code: (decided.body?.code as string | undefined) ?? null,
        sentAtMs: first.sentAt,
        answeredAtMs: decided.at,
      };
      if (registeredBy(decided)) {
        // another id than the claim's: the claim had lapsed when the signup reached it, which made its own
        if (record.referralId !== decided.body.referralId) startedUnder(record, decided);
        record.referralId = decided.body.referralId as string;
        options.hooks.signupRegistered();
        const registrations = all.filter((a) => a.status === 201 && a.body?.duplicate !== true).length;
        if (registrations > 1)
          counters.answerMismatches.push(`${record.key}: signup ${eventId} registered ${registrations} times`);
      }
      return registeredBy(decided);
    };

    const order = async (status: OrderStatus, amount: number, occurredAtMs: number, orderId?: string) => {
      const id = orderId ?? `${refereeId}-o${(orderSeq += 1)}`;
      const eventId = r.uuid();
      const copies = copiesOf(r);
      const body = {
        eventId,
        customerId: refereeId,
        orderId: id,
        status,
        amount,
        currency,
        occurredAt: new Date(occurredAtMs).toISOString(),
      };
      const sent: SentOrder = {
        eventId,
        orderId: id,
        status,
        amount,
        occurredAtMs,
        acceptedAtMs: null,
        copies,
        firstAcceptances: 0,
      };
      record.orders.push(sent);
      const { all } = await withCopies(r, copies, async () => {
        const answer = await http.send('POST', '/v1/events/orders', keys.commerce, body);
        if (answer.status === 202) {
          if (answer.body?.duplicate === false) options.hooks.orderAccepted(eventId);
          sent.acceptedAtMs = Math.min(sent.acceptedAtMs ?? Infinity, answer.at);
        }
        return answer;
      });
      counted('order', copies);
      sent.firstAcceptances = all.filter((a) => a.status === 202 && a.body?.duplicate === false).length;
      const refused = all.filter((a) => a.status !== 202);
      if (refused.length > 0)
        counters.answerMismatches.push(
          `${record.key}: order event ${eventId} answered ${refused.map((a) => a.status).join(',')}, not 202`,
        );
      return id;
    };

    const admin = async (action: SentAdmin['action'], byMs?: number) => {
      if (!record.referralId) return;
      const requestId = r.uuid();
      const copies = copiesOf(r);
      const body = {
        requestId,
        ...(action === 'reject' ? { reason: 'chaos run' } : {}),
        ...(action === 'extend' ? { by: `${Math.round(byMs! / 1000)}s` } : {}),
      };
      const { first, all } = await withCopies(r, copies, () =>
        http.send('POST', `/v1/admin/referrals/${record.referralId}/${action}`, keys.admin, body),
      );
      counted(`admin_${action}`, copies);
      record.admin.push({
        action,
        requestId,
        ...(byMs !== undefined ? { byMs } : {}),
        status: first.status,
        code: (first.body?.code as string | undefined) ?? null,
        sentAtMs: first.sentAt,
        answeredAtMs: first.at,
        copies,
        duplicateAnswers: all.filter((a) => a.body?.duplicate === true).length,
      });
      // the same request again says what the first did: the status must not differ between copies
      const statuses = new Set(all.map((a) => a.status));
      if (statuses.size > 1)
        counters.answerMismatches.push(
          `${record.key}: ${action} ${requestId} answered ${[...statuses].join(' and ')} to copies of one request`,
        );
    };

    /**
     * The referee uses the voucher they are shown as active at checkout, once: the same key again is a duplicate,
     * another key refused. The model judges the answers: the referral may end between the listing and the checkout.
     */
    const useVoucher = async () => {
      const voucher: SentVoucher = { code: null, redeemed: false, answers: [], sentAtMs: 0, otherKey: null };
      record.voucher = voucher;
      // issued by the worker once the referral completes: a fault holds it back
      const lookedFrom = Date.now();
      let code: string | null = null;
      while (Date.now() < patience(lookedFrom, 20_000) && !options.aborted() && code === null) {
        const list = await http.send('GET', `/v1/customers/${refereeId}/vouchers`, keys.commerce);
        const active = Array.isArray(list.body)
          ? (list.body as Array<{ code: string; status: string }>).find((v) => v.status === 'active')
          : undefined;
        if (active) code = active.code;
        else await sleep(500);
      }
      if (!code) return;
      voucher.code = code;
      const redemptionKey = r.uuid();
      const copies = copiesOf(r);
      const { first, all } = await withCopies(r, copies, () =>
        http.send('POST', `/v1/vouchers/${code}/redemptions`, keys.commerce, { redemptionKey }),
      );
      counted('voucher_redemption', copies);
      voucher.sentAtMs = first.sentAt;
      voucher.answers = all.map((a) => ({
        status: a.status,
        code: (a.body?.code as string | undefined) ?? null,
        answeredAtMs: a.at,
      }));
      voucher.redeemed = all.some((a) => a.status === 201 || a.status === 200);
      if (all.filter((a) => a.status === 201).length > 1)
        counters.answerMismatches.push(`${record.key}: voucher ${code} redeemed twice under one key`);
      const other = await http.send('POST', `/v1/vouchers/${code}/redemptions`, keys.commerce, {
        redemptionKey: r.uuid(),
      });
      counted('voucher_redemption', 1);
      voucher.otherKey = { status: other.status, code: (other.body?.code as string | undefined) ?? null };
    };

    const W = p.qualificationWindowMs;
    const H = p.rewardHoldMs;
    const G = p.lateEventGraceMs;
    const big = 60_000;
    const small = 10_000;

    // Claims come first for most kinds; a signup by code creates its referral directly.
    const claimFirst = kind === 'claim_expires' || kind === 'no_orders' || r.chance(0.5);
    if (claimFirst && !(await claim())) return;
    if (kind === 'claim_expires') {
      if (r.chance(0.5) && record.claim) {
        // the invitee comes back after the claim lapsed, naming it: refused, the claim stays expired
        await sleepUntil(record.claim.expiresAtMs + G + 5_000);
        const answer = await http.send('POST', '/v1/events/signups', keys.commerce, {
          eventId: r.uuid(),
          customerId: refereeId,
          referralId: record.referralId,
          email,
        });
        counted('signup', 1);
        record.lateSignup = { status: answer.status, code: (answer.body?.code as string | undefined) ?? null };
      }
      return;
    }
    if (claimFirst) await sleep(r.int(200, 1_500));

    if (kind === 'orders_first') {
      // The order is reported before the signup, which is reported late (dated before the order, or after it).
      const orderAt = Date.now();
      const counts = r.chance(0.7);
      await order('completed', big, orderAt);
      await sleep(r.int(500, 2_000));
      const signedUp = await signup(counts ? orderAt - 1_000 : orderAt + 1_000, claimFirst ? 'referral' : 'code');
      if (!signedUp) return;
      if (r.chance(0.3)) await useVoucher();
      return;
    }

    const T0 = Date.now();
    if (!(await signup(T0, claimFirst ? 'referral' : 'code'))) return;

    switch (kind) {
      case 'no_orders':
        if (r.chance(0.5)) await order('completed', small, Date.now());
        return;
      case 'qualifies': {
        await sleepUntil(T0 + r.between(0.1, 0.4) * W);
        const at = Date.now();
        if (r.chance(0.5)) {
          // out of order: the completion reported before the placement it follows
          const id = await order('completed', big, at);
          await order('placed', big, at - 2_000, id);
        } else {
          const id = await order('placed', big, at - 2_000);
          await order('completed', big, at, id);
        }
        if (r.chance(0.4)) await useVoucher();
        const extra = r.pick([0, 1, 2, 2]);
        for (let i = 0; i < extra; i += 1) {
          await sleepUntil(T0 + r.between(0.45, 0.9) * Math.min(W, p.milestoneWindowMs));
          await order('completed', small, Date.now());
        }
        return;
      }
      case 'refund_in_hold': {
        await sleepUntil(T0 + r.between(0.1, 0.3) * W);
        const at = Date.now();
        const id = await order('completed', big, at);
        await sleepUntil(at + H / 3);
        await order(r.pick(['refunded', 'cancelled'] as const), big, Date.now(), id);
        if (r.chance(0.5)) {
          await sleep(H / 6);
          await order('completed', big, Date.now());
        }
        return;
      }
      case 'refund_after_hold': {
        await sleepUntil(T0 + r.between(0.1, 0.3) * W);
        const at = Date.now();
        const id = await order('completed', big, at);
        // dated after the hold ended: the reward the hold earned stands
        await sleepUntil(at + H + 1_000);
        await order('refunded', big, Date.now(), id);
        return;
      }
      case 'late_in_grace':
      case 'late_past_grace': {
        // dated inside the window, reported after it: early in the grace, or once the grace is over
        const dated = T0 + W - 1_000;
        await sleepUntil(kind === 'late_in_grace' ? T0 + W + G * 0.15 : T0 + W + G + 5_000);
        await order('completed', big, dated);
        return;
      }
      case 'after_window':
        await sleepUntil(T0 + W + 1_000);
        await order('completed', big, Date.now());
        return;
      case 'cancel':
      case 'reject':
        if (r.chance(0.3)) await useVoucher();
        await sleep(r.int(200, 1_000));
        await admin(kind);
        if (kind === 'cancel' && r.chance(0.5)) {
          // another admin's cancel, after the first: refused, it changes nothing
          const again = await http.send('POST', `/v1/admin/referrals/${record.referralId}/cancel`, keys.admin, {
            requestId: r.uuid(),
          });
          counted('admin_cancel', 1);
          if (again.status !== 409)
            counters.answerMismatches.push(`${record.key}: a second cancel answered ${again.status}, not 409`);
        }
        return;
      case 'extend': {
        await sleep(r.int(200, 1_000));
        await admin('extend', W);
        await sleepUntil(T0 + 1.3 * W);
        await order('completed', big, Date.now());
        return;
      }
      case 'review_approve':
        await sleep(r.int(500, 2_000));
        await admin('approve');
        await sleepUntil(T0 + r.between(0.2, 0.5) * W);
        await order('completed', big, Date.now());
        return;
      case 'review_reject':
        await sleep(r.int(500, 2_000));
        await admin(r.chance(0.5) ? 'reject' : 'cancel');
        return;
      case 'review_expires':
        return;
      default:
        return;
    }
  }

  // --- points: redemptions for one customer at once, their copies, reversals, over-asks ---
  const guaranteed = new Map(options.referrers.map((x) => [x.id, p.startingCredit]));
  async function pointsRound(r: Prng): Promise<void> {
    const referrer = r.pick(options.referrers);
    const customerId = referrer.id;
    const choice = r.weighted({ concurrent: 6, overAsk: 1, reverse: 3, unknownReversal: 1 });
    const redeem = async (points: number, expected: 201 | 422) => {
      const redemptionId = r.uuid();
      const copies = copiesOf(r);
      const redemption: Redemption = {
        customerId,
        redemptionId,
        points,
        expected,
        status: 0,
        code: null,
        duplicateAnswers: 0,
        takenFrom: [],
        reversed: false,
        reversalAnswers: [],
      };
      redemptions.push(redemption);
      const { all } = await withCopies(r, copies, () =>
        http.send('POST', `/v1/customers/${customerId}/points/redemptions`, keys.commerce, { redemptionId, points }),
      );
      counted('redemption', copies);
      const decided = all.find((a) => a.status === 201) ?? all.find((a) => a.status === 200) ?? all[0]!;
      redemption.status = decided.status;
      redemption.code = (decided.body?.code as string | undefined) ?? null;
      redemption.duplicateAnswers = all.filter((a) => a.body?.duplicate === true).length;
      if (decided.status === 201 || decided.status === 200)
        redemption.takenFrom = (decided.body.takenFrom as Redemption['takenFrom']) ?? [];
      if (all.filter((a) => a.status === 201).length > 1)
        counters.answerMismatches.push(`redemption ${redemptionId} answered 201 to ${all.length} copies`);
    };
    if (choice === 'concurrent') {
      const n = r.int(2, 4);
      const left = guaranteed.get(customerId)!;
      const amounts = Array.from({ length: n }, () => r.int(10, 80)).filter(
        (_, i, all) => all.slice(0, i + 1).reduce((s, x) => s + x, 0) <= left,
      );
      if (amounts.length === 0) return;
      // taken now: the model's promise is that every one of these fits
      guaranteed.set(customerId, left - amounts.reduce((s, x) => s + x, 0));
      await Promise.all(amounts.map((a) => redeem(a, 201)));
    } else if (choice === 'overAsk') {
      await redeem(10_000_000, 422);
    } else if (choice === 'reverse') {
      const candidates = redemptions.filter(
        (x) => x.customerId === customerId && (x.status === 201 || x.status === 200) && !x.reversed,
      );
      if (candidates.length === 0) return;
      const target = r.pick(candidates);
      const copies = copiesOf(r);
      // a reversal beside a new redemption for the same customer
      const [reversal] = await Promise.all([
        withCopies(r, copies, () =>
          http.send(
            'POST',
            `/v1/customers/${customerId}/points/redemptions/${target.redemptionId}/reversal`,
            keys.commerce,
          ),
        ),
        guaranteed.get(customerId)! >= 10
          ? (guaranteed.set(customerId, guaranteed.get(customerId)! - 10), redeem(10, 201))
          : Promise.resolve(),
      ]);
      counted('reversal', copies);
      target.reversalAnswers.push(...reversal.all.map((a) => a.status));
      target.reversed = reversal.all.some((a) => a.status === 200);
    } else {
      const answer = await http.send(
        'POST',
        `/v1/customers/${customerId}/points/redemptions/${r.uuid()}/reversal`,
        keys.commerce,
      );
      counted('reversal', 1);
      if (answer.status !== 404)
        counters.answerMismatches.push(`a reversal of a redemption never made answered ${answer.status}, not 404`);
    }
  }

  // --- term moves: a second version with longer windows, published mid-run; open referrals moved to it ---
  const workStart = Date.now();
  const span = options.stopStartingAt - workStart;
  const inMoves = new Set<ReferralRecord>();

  /**
   * The move API's two shapes: the move keyed by `requestId`, whose dry run is a move of its own read like the move
   * (`status: finished`, outcomes moved / would_move / unchanged / refused); or keyed by `moveId`, whose dry run
   * answers at once (200) with each referral `allowed` or not, and whose move reads `state: done` with outcomes moved /
   * skipped / failed. The first answer says which one runs; both come down to the same outcomes for the model.
   */
  let keyedBy: 'moveId' | 'requestId' = 'moveId';
  type Outcome = { outcome: SentMove['outcome']; code: string | null };
  const codeOf = (reason: unknown): string | null =>
    typeof reason === 'string' ? (/^[a-z_]+/.exec(reason)?.[0] ?? null) : null;
  const normalised = (outcome: string, code: string | null): Outcome => {
    if (outcome === 'skipped') return { outcome: code === 'same_version' ? 'unchanged' : 'refused', code };
    if (outcome === 'failed') return { outcome: null, code: `failed ${code ?? ''}` };
    return { outcome: outcome as SentMove['outcome'], code };
  };

  /** Sends a move (or its dry run), waits until it has reached every referral, and gives each record its outcome. */
  async function move(r: Prng, selected: ReferralRecord[], dryRun: boolean): Promise<void> {
    const moveId = r.uuid();
    const referralIds = selected.map((x) => x.referralId!);
    const bodyFor = () => ({
      [keyedBy]: moveId,
      toVersion: 2,
      referralIds,
      ...(dryRun ? { dryRun } : {}),
      reason: 'chaos run: longer windows',
    });
    const copies = copiesOf(r);
    const send = () => http.send('POST', `/v1/admin/programs/${options.programId}/moves`, keys.admin, bodyFor());
    let sent = await withCopies(r, copies, send);
    if (sent.first.status === 400 && JSON.stringify(sent.first.body).includes(`"${keyedBy}`)) {
      keyedBy = keyedBy === 'moveId' ? 'requestId' : 'moveId';
      sent = await withCopies(r, copies, send);
    }
    const { first, all } = sent;
    counted(dryRun ? 'term_move_dry_run' : 'term_move', copies);
    const sentAtMs = first.sentAt;
    const items = new Map<string, Outcome>();
    let finished = false;
    let counts: unknown = null;
    if (dryRun && first.status === 200 && Array.isArray(first.body?.items)) {
      // answered at once; every copy says the same, nothing is kept
      finished = true;
      for (const item of first.body.items as Array<{ referralId: string; allowed: boolean; reason?: string }>) {
        const code = codeOf(item.reason);
        items.set(
          item.referralId,
          item.allowed
            ? { outcome: 'would_move', code: null }
            : { outcome: code === 'same_version' ? 'unchanged' : 'refused', code },
        );
      }
      if (all.some((a) => a.status !== 200))
        counters.answerMismatches.push(`dry run ${moveId}: answered ${all.map((a) => a.status).join(',')}, not 200`);
    } else {
      if (all.some((a) => a.status !== 202))
        counters.answerMismatches.push(
          `move ${moveId}: answered ${all.map((a) => `${a.status} ${a.body?.detail ?? ''}`).join(',')} to copies of one request, not 202`,
        );
      if (all.filter((a) => a.status === 202 && a.body?.duplicate === false).length > 1)
        counters.answerMismatches.push(`move ${moveId}: started more than once`);
      let view: Answer | null = null;
      const done = (a: Answer | null) =>
        a?.status === 200 && (a.body?.status === 'finished' || a.body?.state === 'done');
      while (first.status === 202 && Date.now() < patience(sentAtMs, MOVE_FINISH_BUDGET_MS) && !options.aborted()) {
        view = await http.send('GET', `/v1/admin/programs/${options.programId}/moves/${moveId}`, keys.admin);
        if (done(view)) break;
        await sleep(500);
      }
      finished = done(view);
      counts =
        view?.body?.counts ??
        (view?.body ? { moved: view.body.moved, skipped: view.body.skipped, failed: view.body.failed } : null);
      if (first.status === 202 && !finished)
        counters.answerMismatches.push(
          `move ${moveId}: not finished ${Math.round((Date.now() - sentAtMs) / 1000)} s after it was sent, ${MOVE_FINISH_BUDGET_MS / 1000} s after the later of that and the end of the last fault`,
        );
      let cursor: string | null = null;
      while (first.status === 202) {
        const page = await http.send(
          'GET',
          `/v1/admin/programs/${options.programId}/moves/${moveId}/referrals?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          keys.admin,
        );
        if (page.status !== 200) {
          counters.answerMismatches.push(`move ${moveId}: its referrals answered ${page.status}`);
          break;
        }
        for (const item of page.body.items as Array<{ referralId: string; outcome: string; code: string | null }>)
          items.set(item.referralId, normalised(item.outcome, item.code));
        cursor = page.body.nextCursor as string | null;
        if (!cursor) break;
      }
    }
    const finishedAtMs = Date.now();
    moves.push({ moveId, dryRun, selected: selected.length, counts, finished });
    for (const record of selected) {
      const item = items.get(record.referralId!);
      record.moves.push({
        moveId,
        dryRun,
        toVersion: 2,
        sentAtMs,
        finishedAtMs,
        outcome: item?.outcome ?? null,
        code: item?.code ?? null,
      });
    }
    const outcomes = [...items.values()].map((i) => i.outcome);
    options.log(
      `${dryRun ? 'dry run' : 'move'} ${moveId}: ${selected.length} selected, ${outcomes.filter((o) => o === 'moved' || o === 'would_move').length} ${dryRun ? 'would move' : 'moved'}, ${outcomes.filter((o) => o === 'unchanged').length} unchanged, ${outcomes.filter((o) => o === 'refused').length} refused`,
    );
  }

  async function publishAndMove(r: Prng): Promise<void> {
    const publishAt = workStart + span * 0.3;
    await sleepUntil(publishAt);
    if (options.aborted()) return;
    const two = secondVersion(p);
    const sent = Date.now();
    const answer = await http.send('POST', `/v1/admin/programs/${options.programId}/versions`, keys.admin, {
      terms: programTerms(two),
    });
    counted('program_version', 1);
    if (answer.status !== 201 || answer.body?.version !== 2) {
      counters.answerMismatches.push(
        `publishing version 2 answered ${answer.status} (current version ${answer.body?.version ?? '-'})`,
      );
      return;
    }
    published = { sentAtMs: sent, answeredAtMs: answer.at };
    versions.set(2, two);
    // Soon after publishing (in a run of minutes, seconds after): later, every referral of version 1 has long been
    // registered and none is fresh enough to move.
    for (const after of [Math.min(span * 0.1, 10_000), Math.min(span * 0.35, 20_000)]) {
      const moveAt = publishAt + after;
      await sleepUntil(moveAt);
      if (options.aborted()) return;
      // open for a while yet: registered lately, not under review, no admin action of its own still to come; while
      // outages hold every signup's answer back there may be none, so the move waits for some (a while at most)
      const pick = () => {
        const now = Date.now();
        const fresh = r.shuffle(
          referrals.filter(
            (x) =>
              !inMoves.has(x) &&
              !x.flagged &&
              x.programVersion === 1 &&
              x.signup?.status === 201 &&
              x.referralId !== null &&
              now - x.signup.answeredAtMs < p.lateEventGraceMs * 0.3 &&
              !['cancel', 'reject'].includes(x.kind) &&
              (x.kind !== 'extend' || x.admin.some((a) => a.action === 'extend')),
          ),
        );
        // beside them: one that an admin ended (refused) and one that started under version 2 (unchanged)
        const ended = referrals.find(
          (x) =>
            x.referralId !== null &&
            x.admin.some((a) => (a.action === 'cancel' || a.action === 'reject') && a.status === 200),
        );
        const onTwo = referrals.find(
          (x) => x.referralId !== null && x.programVersion === 2 && x.signup?.status === 201,
        );
        const chosen = [...fresh.slice(0, 4), ...(ended ? [ended] : []), ...(onTwo ? [onTwo] : [])].filter(
          (x, i, list) => list.indexOf(x) === i,
        );
        return { fresh, chosen: fresh.length > 0 ? chosen : [] };
      };
      let { fresh, chosen } = pick();
      const waitUntil = moveAt + Math.min(span * 0.2, 30_000);
      while (chosen.length === 0 && Date.now() < waitUntil && !options.aborted()) {
        await sleep(2_000);
        ({ fresh, chosen } = pick());
      }
      if (chosen.length === 0) continue;
      // the dry run takes one more, which the move leaves where it is: a dry run changes nothing
      const dryOnly = fresh[4];
      for (const x of [...chosen, ...(dryOnly ? [dryOnly] : [])]) inMoves.add(x);
      await move(r.fork(), [...chosen, ...(dryOnly ? [dryOnly] : [])], true);
      await move(r.fork(), chosen, false);
    }
  }

  // --- the run: scenarios started one after another, points rounds beside them ---
  const running: Array<Promise<void>> = [];
  const scenarioPrng = prng.fork();
  const pointsPrng = prng.fork();
  let n = 0;
  const movesRun = options.termMoves
    ? publishAndMove(prng.fork()).catch((error: unknown) =>
        counters.answerMismatches.push(`term moves failed: ${String(error)}`),
      )
    : Promise.resolve();
  const pointsLoop = (async () => {
    while (Date.now() < options.stopStartingAt && !options.aborted()) {
      await sleep(pointsPrng.int(1_000, 4_000));
      await pointsRound(pointsPrng.fork()).catch((error: unknown) =>
        counters.answerMismatches.push(`points round failed: ${String(error)}`),
      );
    }
  })();
  while (Date.now() < options.stopStartingAt && n < options.maxReferrals && !options.aborted()) {
    n += 1;
    const kind = scenarioPrng.weighted(SCENARIO_WEIGHTS);
    const own = scenarioPrng.fork();
    running.push(
      runScenario(n, kind, own).catch((error: unknown) => {
        counters.answerMismatches.push(`scenario r${n} (${kind}) failed: ${String(error)}`);
      }),
    );
    await sleep(scenarioPrng.int(Math.round(options.referralEveryMs / 2), Math.round(options.referralEveryMs * 1.5)));
  }
  await pointsLoop;
  await movesRun;
  await Promise.all(running);
  options.log(`workload: ${n} referrals started, ${redemptions.length} redemptions, ${moves.length} moves`);
  return { referrals, redemptions, counters, adjustments, versions, moves };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
