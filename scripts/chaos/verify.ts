/**
 * After the workload and the faults: wait until every programme window, hold, milestone window and lot validity has
 * passed (bounded), then hold the product to the model. Each discrepancy goes to exactly one column, with a line
 * saying what it was:
 *
 * - events lost: an accepted event still undelivered in the inbox, or a referral an accepted request made missing;
 * - rewards doubled: a second lot, voucher, credit, redemption or reversal entry where one was due, or a second
 *   referral for one referee;
 * - invariant breaks: what the ledger check (`checkLedger`, `npm run ledger:check`) reports;
 * - stuck: a referral still open, or a lot not expired, past every deadline plus grace plus the settle margin;
 * - mismatches: anything else the model predicted otherwise (status, live state, voucher, points, balance, answers).
 */
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { checkLedger } from '../../db/ledger';
import type { ChaosHttp } from './http';
import { replayLedger } from './ledger-replay';
import { expectReferral, type Expectation, type ReferralRecord } from './lifecycle-model';
import type { Profile } from './profile';
import type { ChaosStack } from './stack';
import type { Workload } from './workload';

export interface Findings {
  eventsLost: string[];
  rewardsDoubled: string[];
  invariantBreaks: string[];
  stuck: string[];
  mismatches: string[];
  /** outcomes the model followed because a fault moved a request across the deadline it raced (not failures) */
  followedAnswers: string[];
  /** each referral that failed a check: what the run sent and was answered, the model's expectation, its timeline */
  details: Array<{ record: ReferralRecord; expected: Expectation; timeline: unknown }>;
  waitedMs: number;
}

interface ReferralRow {
  id: string;
  status: string;
  program_version: number;
  referee_id: string | null;
  closed_at: Date | null;
}
interface LotRow {
  id: string;
  customer_id: string;
  points: number;
  remaining: number;
  expires_at: Date;
  expired_at: Date | null;
  source_kind: string;
  referral_id: string | null;
  credit_key: string;
}

/**
 * Past the abort, how long the retries of a call may still run. Temporal answers a long poll empty 1 s before the
 * call's deadline (at once when less is left), and the result is asked again: a deadline at the abort would end in a
 * second of such calls.
 */
const RETRY_TAIL_MS = 2_000;

/**
 * A workflow's result, or why there is none within `limitMs`. The call is ended, not just outraced: one left behind
 * kept retrying a Temporal that did not answer, and its next try on the connection closed at cleanup threw "Channel
 * has been shut down" from a timer, which ended the run. The abort cancels the attempt in flight; it does not reach a
 * retry the client makes after that attempt failed, nor a call made once the signal has fired, so a deadline shortly
 * after it ends those.
 */
export async function workflowResultWithin<T>(
  temporal: Client,
  workflowId: string,
  limitMs: number,
): Promise<T | { failed: string }> {
  const handle = temporal.workflow.getHandle(workflowId);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), limitMs);
  try {
    return await temporal.withDeadline(Date.now() + limitMs + RETRY_TAIL_MS, () =>
      temporal.withAbortSignal(controller.signal, () => handle.result() as Promise<T>),
    );
  } catch (error) {
    return {
      failed: controller.signal.aborted ? `no result within ${limitMs / 1000} s (${String(error)})` : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}

export async function settleAndVerify(options: {
  stack: ChaosStack;
  http: ChaosHttp;
  workload: Workload;
  profile: Profile;
  log: (line: string) => void;
  aborted: () => boolean;
}): Promise<Findings> {
  const { stack, workload, profile: p, log } = options;
  const db = stack.db;
  const temporal = await stack.temporal();
  const expectations = new Map<ReferralRecord, Expectation>(
    workload.referrals.map((r) => [r, expectReferral(r, workload.versions)]),
  );
  const lastSettle = Math.max(Date.now(), ...[...expectations.values()].map((e) => e.settledByMs));
  const giveUpAt = lastSettle + p.settleMs;
  const waitStarted = Date.now();
  log(
    `settling: every deadline, grace and lot validity has passed in ${Math.round((lastSettle - Date.now()) / 1000)} s; stuck after ${Math.round((giveUpAt - Date.now()) / 1000)} s`,
  );

  // Settled: past every expected instant, nothing open, nothing undelivered, every lot due to expire expired. A failed
  // referral is closed by the write of its end, before its workflow's last steps (its audit row, its late facts): its
  // workflow must have finished too.
  const settled = async (): Promise<boolean> => {
    if (Date.now() < lastSettle) return false;
    const running = await temporal.workflow.count(
      `WorkflowType IN ('referralLifecycle', 'referralWorkflow') AND ExecutionStatus = 'Running'`,
    );
    if (running.count > 0) return false;
    const open = await sql<{ n: string }>`select count(*) as n from referrals where closed_at is null`.execute(db);
    const inbox = await sql<{ n: string }>`
      select count(*) as n from inbox_events where state in ('received', 'failed')`.execute(db);
    const lots = await sql<{ n: string }>`
      select count(*) as n from point_lots where expired_at is null and expires_at < now()`.execute(db);
    return [open, inbox, lots].every((r) => Number(r.rows[0]?.n ?? 0) === 0);
  };
  while (Date.now() < giveUpAt && !options.aborted()) {
    if (await settled().catch(() => false)) break;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
  }

  const findings: Findings = {
    eventsLost: [],
    rewardsDoubled: [],
    invariantBreaks: [],
    stuck: [],
    mismatches: [],
    followedAnswers: [],
    details: [],
    waitedMs: Date.now() - waitStarted,
  };
  const { eventsLost, rewardsDoubled, stuck, mismatches } = findings;

  const rows = (await db
    .selectFrom('referrals')
    .select(['id', 'status', 'program_version', 'referee_id', 'closed_at'])
    .execute()) as ReferralRow[];
  const byId = new Map(rows.map((row) => [row.id, row]));
  const lots = (await db
    .selectFrom('point_lots')
    .select([
      'id',
      'customer_id',
      'points',
      'remaining',
      'expires_at',
      'expired_at',
      'source_kind',
      'referral_id',
      'credit_key',
    ])
    .execute()) as LotRow[];
  const lotsByKey = new Map<string, LotRow[]>();
  for (const lot of lots) lotsByKey.set(lot.credit_key, [...(lotsByKey.get(lot.credit_key) ?? []), lot]);
  const vouchers = await db.selectFrom('vouchers').select(['code', 'referral_id', 'status']).execute();
  const vouchersOf = new Map<string, typeof vouchers>();
  for (const v of vouchers) vouchersOf.set(v.referral_id, [...(vouchersOf.get(v.referral_id) ?? []), v]);

  // --- referrals ---
  const known = new Set<string>();
  for (const [record, expected] of expectations) {
    findings.followedAnswers.push(...expected.followedAnswer.map((line) => `${record.key}: ${line}`));
    mismatches.push(...expected.answerMismatches.map((line) => `${record.key} (${record.kind}): ${line}`));
    if (!record.referralId) {
      if (record.incomplete) mismatches.push(`${record.key} (${record.kind}): ${record.incomplete}`);
      continue;
    }
    known.add(record.referralId);
    // counted before any check of this referral, so that its status alone puts it in the report's details
    const before = mismatches.length + stuck.length + eventsLost.length;
    const row = byId.get(record.referralId);
    const name = `${record.key} (${record.kind}, ${record.referralId})`;
    if (expected.status === null) continue;
    if (record.claim && record.claim.referralId !== record.referralId) {
      // the signup was delivered after the claim lapsed and started a referral of its own: the claim stays expired
      const claimRow = byId.get(record.claim.referralId);
      known.add(record.claim.referralId);
      if (claimRow?.status !== 'expired')
        mismatches.push(
          `${name}: its lapsed claim ${record.claim.referralId} is ${claimRow?.status ?? 'missing'}, not expired`,
        );
      const lapsedInTime = record.signup !== null && record.signup.answeredAtMs > record.claim.expiresAtMs;
      if (!lapsedInTime) mismatches.push(`${name}: the signup started a referral of its own before its claim expired`);
    }
    if (!row) {
      eventsLost.push(`${name}: accepted, yet no referral in the projection`);
      continue;
    }
    if (row.closed_at === null) stuck.push(`${name}: still open as ${row.status}`);
    if (row.status !== expected.status)
      mismatches.push(`${name}: ${row.status} in the projection, the model says ${expected.status}`);
    if (row.program_version !== expected.programVersion)
      mismatches.push(`${name}: under version ${row.program_version}, the model says ${expected.programVersion}`);

    // The workflow's own state: a finished referral's workflow returns its last snapshot (the admin view shows live
    // state only while it runs), read from its history without a replay.
    const live = await workflowResultWithin<{
      status?: string;
      rewards?: { referrerPoints?: { points?: number } | null };
    }>(temporal, `referral-${record.referralId}`, 10_000);
    if ('failed' in live) stuck.push(`${name}: its workflow has no result (${live.failed})`);
    else {
      if (live.status !== expected.status)
        mismatches.push(`${name}: the workflow ended ${live.status}, the model says ${expected.status}`);
      const paid = live.rewards?.referrerPoints?.points ?? 0;
      if (paid !== expected.referrerPoints)
        mismatches.push(`${name}: the workflow paid ${paid} points, the model says ${expected.referrerPoints}`);
    }
    const own = vouchersOf.get(record.referralId) ?? [];
    if (own.length > 1) rewardsDoubled.push(`${name}: ${own.length} vouchers`);
    const voucher = own[0]?.status ?? 'none';
    if (voucher !== expected.voucher)
      mismatches.push(`${name}: voucher ${voucher}, the model says ${expected.voucher}`);

    for (const [kind, due] of [
      ['referral', expected.referrerPoints],
      ['milestone', expected.milestone ? p.milestone.points : 0],
    ] as const) {
      const credited = lotsByKey.get(`${kind}:${record.referralId}`) ?? [];
      if (credited.length > 1) rewardsDoubled.push(`${name}: ${credited.length} ${kind} lots`);
      const points = credited.reduce((sum, lot) => sum + lot.points, 0);
      if (credited.length === 1 && points > due && due > 0)
        rewardsDoubled.push(`${name}: ${kind} lot of ${points} points, ${due} due`);
      else if (credited.length <= 1 && points !== due)
        mismatches.push(`${name}: ${kind} points ${points}, the model says ${due}`);
    }
    if (mismatches.length + stuck.length + eventsLost.length > before || expected.answerMismatches.length > 0) {
      // what happened to it, for the report: what was sent and answered, what the model made of it, the timeline
      const view = await options.http.send('GET', `/v1/admin/referrals/${record.referralId}`, stack.keys.admin);
      findings.details.push({ record, expected, timeline: view.body?.timeline ?? null });
    }
  }
  for (const row of rows) {
    if (known.has(row.id)) continue;
    const twice = row.referee_id && rows.some((other) => other.id !== row.id && other.referee_id === row.referee_id);
    (twice ? rewardsDoubled : mismatches).push(
      `referral ${row.id} (${row.status}, referee ${row.referee_id ?? '-'}) was made by no request the model knows`,
    );
  }

  // --- the inbox: every accepted event delivered or settled ---
  const undelivered = await db
    .selectFrom('inbox_events')
    .select(['event_id', 'kind', 'state', 'last_error'])
    .where('state', 'in', ['received', 'failed'])
    .execute();
  for (const e of undelivered)
    eventsLost.push(`${e.kind} event ${e.event_id} still ${e.state}${e.last_error ? `: ${e.last_error}` : ''}`);

  // --- lots: every one due to expire has expired ---
  for (const lot of lots) {
    if (lot.expired_at === null && lot.expires_at.getTime() < Date.now() - 5_000)
      stuck.push(
        `lot ${lot.credit_key} of ${lot.customer_id}: due to expire at ${lot.expires_at.toISOString()}, still live`,
      );
  }

  // --- points: answers, entries, balances ---
  const entries = await db
    .selectFrom('ledger_entries')
    .select(['customer_id', 'kind', 'points', 'redemption_id', 'lot_id'])
    .execute();
  const entriesOf = (redemptionId: string, kind: string) =>
    entries.filter((e) => e.redemption_id === redemptionId && e.kind === kind);
  const lotById = new Map(lots.map((lot) => [lot.id, lot]));
  for (const r of workload.redemptions) {
    const name = `redemption ${r.redemptionId} of ${r.customerId} (${r.points} points)`;
    const taken = r.status === 201 || r.status === 200;
    if (r.expected === 201 && !taken)
      mismatches.push(`${name}: answered ${r.status} ${r.code ?? ''}, the model says 201`);
    if (r.expected === 422 && !(r.status === 422 && r.code === 'insufficient_points'))
      mismatches.push(`${name}: answered ${r.status} ${r.code ?? ''}, the model says 422 insufficient_points`);
    const redeemed = entriesOf(r.redemptionId, 'redeem');
    const redeemedPoints = -redeemed.reduce((sum, e) => sum + e.points, 0);
    if (taken && redeemedPoints > r.points) rewardsDoubled.push(`${name}: ${redeemedPoints} points taken`);
    else if (redeemedPoints !== (taken ? r.points : 0))
      mismatches.push(`${name}: ${redeemedPoints} points taken in the ledger`);
    const reversed = entriesOf(r.redemptionId, 'reverse');
    const reversedPoints = reversed.reduce((sum, e) => sum + e.points, 0);
    if (r.reversed && reversedPoints > r.points) rewardsDoubled.push(`${name}: ${reversedPoints} points given back`);
    else if (reversedPoints !== (r.reversed ? r.points : 0))
      mismatches.push(`${name}: ${reversedPoints} points given back in the ledger, reversed: ${r.reversed}`);
    if (r.reversed && r.reversalAnswers.some((s) => s !== 200))
      mismatches.push(`${name}: its reversal answered ${r.reversalAnswers.join(',')}`);
    // soonest-expiring lots first
    const expiries = r.takenFrom.map((t) => lotById.get(t.lotId)?.expires_at.getTime() ?? Number.NaN);
    if (expiries.some((e, i) => Number.isNaN(e) || (i > 0 && e < expiries[i - 1]!)))
      mismatches.push(`${name}: taken from lots out of expiry order (${r.takenFrom.map((t) => t.lotId).join(', ')})`);
  }
  // Once every short-lived lot has expired, a referrer holds only what is left of their starting credit: the credit
  // less what non-reversed redemptions took from that lot.
  for (const a of workload.adjustments) {
    const name = `customer ${a.customerId}`;
    if (a.status !== 201) mismatches.push(`${name}: the starting credit answered ${a.status}`);
    const startLot = lots.find((lot) => lot.customer_id === a.customerId && lot.source_kind === 'adjustment');
    if (!startLot) {
      mismatches.push(`${name}: no starting credit lot`);
      continue;
    }
    const takenFromStart = workload.redemptions
      .filter((r) => r.customerId === a.customerId && (r.status === 201 || r.status === 200) && !r.reversed)
      .reduce(
        (sum, r) => sum + r.takenFrom.filter((t) => t.lotId === startLot.id).reduce((s, t) => s + t.points, 0),
        0,
      );
    const expected = a.points - takenFromStart;
    const live = lots.filter((lot) => lot.customer_id === a.customerId && lot.expired_at === null);
    const balance = await db
      .selectFrom('customers')
      .select('points_balance')
      .where('id', '=', a.customerId)
      .executeTakeFirst();
    if (startLot.remaining !== expected)
      mismatches.push(`${name}: starting lot has ${startLot.remaining} left, the model says ${expected}`);
    if (live.length === 1 && Number(balance?.points_balance ?? -1) !== expected)
      mismatches.push(`${name}: balance ${balance?.points_balance}, the model says ${expected}`);
    const credits = entries.filter((e) => e.customer_id === a.customerId && e.kind === 'credit');
    const perLot = new Map<string, number>();
    for (const c of credits) perLot.set(c.lot_id ?? '-', (perLot.get(c.lot_id ?? '-') ?? 0) + 1);
    for (const [lotId, n] of perLot) if (n > 1) rewardsDoubled.push(`${name}: lot ${lotId} credited ${n} times`);
  }

  // --- every customer's lots, entries and balance, as the model of lots replays the ledger ---
  mismatches.push(...(await replayLedger(db, workload)));

  // --- the ledger's own invariants ---
  findings.invariantBreaks = (await checkLedger(db)).map((o) => `${o.rule}: ${o.subject} (${o.detail})`);
  mismatches.push(...workload.counters.answerMismatches);
  return findings;
}
