import type { ReferralActivities } from '../../activities';
import type { ReferralFaultRecord } from '../../activities/faults';
import type { LedgerActivities } from '../../activities/ledger';
import type {
  ProjectReferralEndInput,
  ProjectReferralInput,
  ProjectRegistrationInput,
  RegistrationOutcome,
} from '../../activities/referrals';
import { judgeProjectionWrite, type ProjectionVerdict } from '../../activities/projection-order';
import type { CreditedLot, LotCreditRequest } from '../../workflows/lot-shared';
import { REFUSALS, voucherIssuedEntry, type AdminActionRecord, type OrderFacts } from '../../workflows/shared';

export interface FakeVoucher {
  referralId: string;
  customerId: string;
  code: string;
  amount: number;
  currency: string;
  issuedAt: string;
  expiresAt: string;
  status: 'active' | 'redeemed' | 'void';
}

/** Typed stand-ins for the activities that remember what the workflow asked of them. */
export function fakeActivities(
  options: {
    earlyOrders?: OrderFacts[];
    /** orders the inbox holds undelivered when a deadline is decided (their delivery cut off) */
    reportedOrders?: () => OrderFacts[] | Promise<OrderFacts[]>;
    alreadyReferred?: string[];
    /** runs inside projectReferral before it records, e.g. to make one projection slow */
    beforeProjection?: (input: ProjectReferralInput) => Promise<void>;
    /** runs inside projectReferral after it recorded, e.g. to hang a write that has landed (a worker about to die) */
    afterProjection?: (input: ProjectReferralInput) => Promise<void>;
    /** where projections are recorded: share one between workers to stand for one database */
    projections?: ProjectReferralInput[];
    /** an error projectReferral throws for this write instead of recording it (e.g. a non-retryable data error) */
    failProjection?: (input: ProjectReferralInput) => Error | undefined;
    /** projection writes as a worker from before the end's write closed the row answers: they never say closed */
    writesWithoutClose?: boolean;
    /** completed referrals the referrer had before this test's (their tier) */
    completedBefore?: number;
    /** runs inside voidRefereeVoucher before it voids, e.g. to hold a referral in the moment it ends */
    beforeVoucherVoid?: () => Promise<void>;
    /** runs inside registerReferee before it answers */
    beforeRegistration?: () => Promise<void>;
  } = {},
) {
  const projections: ProjectReferralInput[] = options.projections ?? [];
  const registrations: string[] = [];
  const faults: ReferralFaultRecord[] = [];
  const releases: { referralId: string; refereeId: string }[] = [];
  const closed: string[] = [];
  const completions: string[] = [];
  const adminActions: AdminActionRecord[] = [];
  // vouchers by referral, as the vouchers table keeps them (one per referral)
  const vouchers = new Map<string, FakeVoucher>();
  const voucherCalls: { activity: 'issue' | 'void'; referralId: string }[] = [];
  // lots by credit key, as the ledger keeps them (one per key); every credit asked for is in creditCalls
  const lots = new Map<string, CreditedLot & { request: LotCreditRequest }>();
  const creditCalls: LotCreditRequest[] = [];
  const expiries: string[] = [];
  let inFlight = 0;
  const tracked =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      inFlight += 1;
      try {
        return await fn(...args);
      } finally {
        inFlight -= 1;
      }
    };
  const nextVoucherCode = (referralId: string) => `V${vouchers.size + 1}${referralId.slice(0, 8).toUpperCase()}`;
  const issueFakeVoucher = (request: Parameters<ReferralActivities['issueRefereeVoucher']>[0]) => {
    voucherCalls.push({ activity: 'issue', referralId: request.referralId });
    let voucher = vouchers.get(request.referralId);
    if (!voucher) {
      voucher = { ...request, code: nextVoucherCode(request.referralId), status: 'active' };
      vouchers.set(request.referralId, voucher);
    }
    return { code: voucher.code, expiresAt: voucher.expiresAt };
  };
  const voidFakeVoucher = async (referralId: string) => {
    await options.beforeVoucherVoid?.();
    voucherCalls.push({ activity: 'void', referralId });
    const voucher = vouchers.get(referralId);
    if (voucher?.status === 'active') voucher.status = 'void';
    return { status: voucher?.status ?? null };
  };
  /**
   * Projection writes that land together or not at all, as in one transaction; whether each was written, judged as
   * the database judges it, right as it is recorded (no other write comes between).
   */
  const projectInOneTransaction = async (writes: ProjectReferralInput[]): Promise<boolean[]> => {
    for (const write of writes) await options.beforeProjection?.(write);
    for (const write of writes) {
      const failure = options.failProjection?.(write);
      if (failure) throw failure;
    }
    const written = writes.map((write) => {
      const verdict = judgeAgainst(replayProjection(projections, write.referral.referralId), write);
      projections.push(write);
      return verdict === 'write';
    });
    for (const write of writes) await options.afterProjection?.(write);
    return written;
  };
  /** A written end that asked to close its row closes it, once, as markReferralClosed would. */
  const closeWith = (input: ProjectReferralInput, written: boolean): { closed?: true } => {
    if (input.closedAt === undefined || !written || options.writesWithoutClose) return {};
    if (!closed.includes(input.referral.referralId)) closed.push(input.referral.referralId);
    return { closed: true };
  };
  const activities: ReferralActivities & LedgerActivities = {
    projectReferral: tracked(async (input: ProjectReferralInput) => {
      const [written] = await projectInOneTransaction([input]);
      return { written: written!, ...closeWith(input, written!) };
    }),
    projectReferralEnd: tracked(async ({ voidVoucher, ...input }: ProjectReferralEndInput) => {
      const referralId = input.referral.referralId;
      if (voidVoucher) await options.beforeVoucherVoid?.();
      const before = vouchers.get(referralId)?.status ?? null;
      const voucher = voidVoucher ? { code: voidVoucher.code, status: before === 'active' ? 'void' : before } : null;
      const [written] = await projectInOneTransaction([
        voucher ? { ...input, entry: { ...input.entry, detail: { ...input.entry.detail, voucher } } } : input,
      ]);
      if (voidVoucher) {
        voucherCalls.push({ activity: 'void', referralId });
        const held = vouchers.get(referralId);
        if (held?.status === 'active') held.status = 'void';
      }
      return { voucher, ...closeWith(input, written!) };
    }),
    projectRegistration: tracked(async ({ voucher, ...input }: ProjectRegistrationInput) => {
      const referralId = input.referral.referralId;
      const held = vouchers.get(referralId);
      const given = {
        code: held?.code ?? nextVoucherCode(referralId),
        expiresAt: held?.expiresAt ?? voucher.expiresAt,
      };
      const { amount, currency } = voucher;
      // one transaction: a registration the projection refuses issues no voucher either
      await projectInOneTransaction([
        input,
        {
          ...input,
          entry: voucherIssuedEntry(input.entry, { code: given.code, amount, currency, expiresAt: given.expiresAt }),
        },
      ]);
      return issueFakeVoucher({ referralId, ...voucher });
    }),
    registerReferee: tracked(
      async ({
        referrerId,
        signup,
      }: Parameters<ReferralActivities['registerReferee']>[0]): Promise<RegistrationOutcome> => {
        await options.beforeRegistration?.();
        if (signup.refereeId === referrerId) {
          return { outcome: 'refused', code: REFUSALS.selfReferral, detail: 'a customer cannot use their own code' };
        }
        if (options.alreadyReferred?.includes(signup.refereeId)) {
          return { outcome: 'refused', code: REFUSALS.alreadyReferred, detail: 'already referred' };
        }
        registrations.push(signup.refereeId);
        return { outcome: 'registered' };
      },
    ),
    takeOrdersAwaitingSignup: tracked(async () => options.earlyOrders ?? []),
    takeReportedOrders: tracked(async () => [
      ...(options.earlyOrders ?? []),
      ...((await options.reportedOrders?.()) ?? []),
    ]),
    purgeUnreferredOrders: tracked(async () => 0),
    purgeLeakedEarlyCounts: tracked(async () => 0),
    // moves run against real referral workflows and PostgreSQL (test/e2e/terms-moves.test.ts)
    selectTermsMoveCandidates: tracked(async () => ({ ids: [], after: null })),
    moveReferralToTerms: tracked(async () => ({ outcome: 'skipped' as const, code: 'not_found' })),
    recordTermsMoveFailure: tracked(async () => {}),
    finishTermsMove: tracked(async () => {}),
    recordReferrerCompletion: tracked(async ({ referralId }: { referralId: string }) => {
      if (!completions.includes(referralId)) completions.push(referralId);
      return { ordinal: (options.completedBefore ?? 0) + completions.indexOf(referralId) + 1 };
    }),
    recordAdminAction: tracked(async (record: AdminActionRecord) => {
      adminActions.push(record);
    }),
    markReferralClosed: tracked(async ({ referralId }: { referralId: string }) => {
      closed.push(referralId);
    }),
    releaseReferee: tracked(async (reservation: { referralId: string; refereeId: string }) => {
      const reserved = registrations.includes(reservation.refereeId);
      releases.push(reservation);
      return { released: reserved };
    }),
    recordReferralFault: tracked(async (fault: ReferralFaultRecord) => {
      if (!faults.some((f) => f.faultId === fault.faultId)) faults.push(fault);
    }),
    issueRefereeVoucher: tracked(async (request: Parameters<ReferralActivities['issueRefereeVoucher']>[0]) =>
      issueFakeVoucher(request),
    ),
    voidRefereeVoucher: tracked((request: Parameters<ReferralActivities['voidRefereeVoucher']>[0]) =>
      voidFakeVoucher(request.referralId),
    ),
    creditPointLot: tracked(
      async ({ workflowRunId: _run, ...request }: Parameters<LedgerActivities['creditPointLot']>[0]) => {
        creditCalls.push(request);
        const booked = lots.get(request.creditKey);
        if (booked) return { ...lotOf(booked), created: false };
        // Answered as expiring at once: its workflow ends in the scenario instead of holding a months-long timer that a
        // later scenario's skipped time would fire; the request keeps the expiry the referral asked for.
        const lot = {
          lotId: `lot-${lots.size + 1}`,
          customerId: request.customerId,
          points: request.points,
          creditedAt: request.creditedAt,
          expiresAt: request.creditedAt,
          created: true,
          request,
        };
        lots.set(request.creditKey, lot);
        return lotOf(lot);
      },
    ),
    expirePointLot: tracked(async ({ lotId }: { lotId: string }) => {
      expiries.push(lotId);
      return { expired: 0 };
    }),
  };
  return {
    activities,
    projections,
    registrations,
    faults,
    releases,
    /** referrals whose workflow said it finished */
    closed,
    /** the audit log's rows, as the workflow wrote them */
    adminActions,
    vouchers,
    voucherCalls,
    lots,
    creditCalls,
    expiries,
    /** activities running right now */
    inFlight: () => inFlight,
    statuses: () => projections.map((p) => p.referral.status),
    kinds: () => projections.map((p) => p.entry.kind),
  };
}

/**
 * What the recorded writes of one referral leave in the database, by projectReferral's rules
 * (activities/projection-order.ts): the row is the last write that stood, each timeline entry the last write of its
 * seq that stood, and a lost task's entries above a later task's write are gone. The referral is the first write's
 * when not named.
 */
export function projectedState(projections: readonly ProjectReferralInput[], referralId?: string) {
  const { row, timeline } = replayProjection(projections, referralId ?? projections[0]?.referral.referralId);
  return { row, timeline: [...timeline.values()].sort((a, b) => a.seq - b.seq) };
}

interface ProjectedState {
  row: ProjectReferralInput | undefined;
  taskAtMs: number | null;
  timeline: Map<number, ProjectReferralInput['entry']>;
}

function replayProjection(
  projections: readonly ProjectReferralInput[],
  referralId: string | undefined,
): ProjectedState {
  const shown: ProjectedState = { row: undefined, taskAtMs: null, timeline: new Map() };
  for (const write of projections) {
    if (write.referral.referralId !== referralId) continue;
    const verdict = judgeAgainst(shown, write);
    if (verdict === 'stale') continue;
    // a write sets the row's instant, and so does a correction with nothing to correct, where there is a row
    if (verdict === 'write' || shown.row) shown.taskAtMs = Date.parse(write.entry.at);
    if (verdict === 'heard') continue;
    for (const seq of shown.timeline.keys()) {
      if (seq > write.entry.seq && seq <= shown.row!.entry.seq) shown.timeline.delete(seq);
    }
    shown.row = write;
    shown.timeline.set(write.entry.seq, write.entry);
  }
  return shown;
}

function judgeAgainst(shown: ProjectedState, write: ProjectReferralInput): ProjectionVerdict {
  const seq = shown.row?.entry.seq;
  return judgeProjectionWrite(
    {
      seq,
      taskAtMs: shown.taskAtMs,
      entries: [...shown.timeline.values()]
        .filter((entry) => seq !== undefined && entry.seq >= write.entry.seq && entry.seq <= seq)
        .map((entry) => ({ seq: entry.seq, atMs: Date.parse(entry.at) })),
    },
    { seq: write.entry.seq, atMs: Date.parse(write.entry.at), correctsOnly: write.correctsOnly },
  );
}

const lotOf = ({ request: _request, ...lot }: CreditedLot & { request: LotCreditRequest }): CreditedLot => lot;
