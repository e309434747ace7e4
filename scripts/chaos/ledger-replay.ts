/**
 * Every customer's points, predicted by the reference model of lots (`model/lots.ts`, FIFO by expiry): the ledger's
 * operations (credits, redemptions, reversals, expiries) are replayed through the model in the order the ledger
 * serialised them (each customer's writes run under the customer's lock, so the entries' ids give that order), and
 * the model decides what each one takes, gives back and expires. Every entry, every lot's remainder and expiry, each
 * redemption's lots (as the ledger booked them and as the API answered) and each balance must be what it says.
 *
 * The order comes from the ledger because concurrent redemptions of one customer may rightly be served in either
 * order; what each takes once its turn came is the model's to say. An expiry that found nothing left books no entry:
 * it takes its place by its instant, which matters only to a reversal returning points to that lot afterwards.
 */
import type { DB } from '../../db/connection';
import { LotsModel, type ModelEntry, type ModelLotSource, type ModelTaken } from './model/lots';
import type { Workload } from './workload';

interface EntryRow {
  id: string;
  customer_id: string;
  lot_id: string | null;
  kind: string;
  points: number;
  redemption_id: string | null;
  at: Date;
}

type Operation =
  | { kind: 'credit'; order: bigint; atMs: number; lotId: string }
  | { kind: 'redeem'; order: bigint; atMs: number; redemptionId: string; points: number; taken: ModelTaken[] }
  | { kind: 'reverse'; order: bigint; atMs: number; redemptionId: string }
  | { kind: 'expire'; order: bigint; atMs: number; lotId: string };

export async function replayLedger(db: DB, workload: Workload): Promise<string[]> {
  const mismatches: string[] = [];
  const lots = await db
    .selectFrom('point_lots')
    .select([
      'id',
      'customer_id',
      'points',
      'remaining',
      'credited_at',
      'expires_at',
      'expired_at',
      'source_kind',
      'credit_key',
    ])
    .execute();
  const lotById = new Map(lots.map((lot) => [lot.id, lot]));
  const entries = (await db
    .selectFrom('ledger_entries')
    .select(['id', 'customer_id', 'lot_id', 'kind', 'points', 'redemption_id', 'at'])
    .execute()) as EntryRow[];
  entries.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
  const balances = new Map(
    (await db.selectFrom('customers').select(['id', 'points_balance']).execute()).map((c) => [
      c.id,
      Number(c.points_balance),
    ]),
  );
  const answered = new Map(workload.redemptions.map((r) => [`${r.customerId}\u0000${r.redemptionId}`, r]));

  const customers = [...new Set(entries.map((e) => e.customer_id))];
  for (const customerId of customers) {
    const own = entries.filter((e) => e.customer_id === customerId);
    const operations: Operation[] = [];
    const seenRedemptions = new Set<string>();
    const seenReversals = new Set<string>();
    for (const e of own) {
      // even: the ledger's own order; an expiry without an entry takes the odd place before the next operation
      const order = 2n * BigInt(e.id);
      const atMs = e.at.getTime();
      if ((e.kind === 'credit' || e.kind === 'adjust') && e.points > 0 && e.lot_id) {
        operations.push({ kind: 'credit', order, atMs, lotId: e.lot_id });
      } else if (e.kind === 'redeem' && e.redemption_id && !seenRedemptions.has(e.redemption_id)) {
        seenRedemptions.add(e.redemption_id);
        const group = own.filter((x) => x.kind === 'redeem' && x.redemption_id === e.redemption_id);
        operations.push({
          kind: 'redeem',
          order,
          atMs,
          redemptionId: e.redemption_id,
          points: -group.reduce((sum, x) => sum + x.points, 0),
          taken: group.map((x) => ({ lotId: x.lot_id!, points: -x.points })),
        });
      } else if (e.kind === 'reverse' && e.redemption_id && !seenReversals.has(e.redemption_id)) {
        seenReversals.add(e.redemption_id);
        operations.push({ kind: 'reverse', order, atMs, redemptionId: e.redemption_id });
      } else if (e.kind === 'expire' && e.redemption_id === null && e.lot_id) {
        operations.push({ kind: 'expire', order, atMs, lotId: e.lot_id });
      } else if (e.kind !== 'redeem' && e.kind !== 'reverse' && e.kind !== 'expire') {
        mismatches.push(
          `customer ${customerId}: ledger entry ${e.id} (${e.kind} ${e.points}) is no operation the run made`,
        );
      }
    }
    // Expiries that found nothing left: by their instant, before the first operation that came later.
    for (const lot of lots) {
      if (lot.customer_id !== customerId || lot.expired_at === null) continue;
      if (operations.some((o) => o.kind === 'expire' && o.lotId === lot.id)) continue;
      const atMs = lot.expired_at.getTime();
      const next = operations.find((o) => o.atMs > atMs);
      const last = operations.reduce((max, o) => (o.order > max ? o.order : max), 0n);
      operations.push({ kind: 'expire', order: next ? next.order - 1n : last + 1n, atMs, lotId: lot.id });
    }
    operations.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : a.atMs - b.atMs));

    const model = new LotsModel();
    for (const o of operations) {
      if (o.kind === 'credit') {
        const lot = lotById.get(o.lotId);
        if (!lot) {
          mismatches.push(`customer ${customerId}: a credit entry names lot ${o.lotId}, which does not exist`);
          continue;
        }
        model.credit({
          customerId,
          lotId: lot.id,
          creditKey: lot.credit_key,
          source: lot.source_kind as ModelLotSource,
          points: lot.points,
          creditedAtMs: lot.credited_at.getTime(),
          expiresAtMs: lot.expires_at.getTime(),
        });
      } else if (o.kind === 'redeem') {
        const outcome = model.redeem({ customerId, redemptionId: o.redemptionId, points: o.points, nowMs: o.atMs });
        const name = `customer ${customerId}: redemption ${o.redemptionId} (${o.points} points)`;
        if (outcome.outcome !== 'redeemed') {
          mismatches.push(`${name}: booked, the model says ${outcome.outcome}`);
          continue;
        }
        if (!sameTaken(outcome.takenFrom, o.taken))
          mismatches.push(`${name}: took ${takenText(o.taken)}, the model takes ${takenText(outcome.takenFrom)}`);
        const answer = answered.get(`${customerId}\u0000${o.redemptionId}`);
        if (answer && answer.takenFrom.length > 0 && !sameTaken(answer.takenFrom, outcome.takenFrom))
          mismatches.push(
            `${name}: answered ${takenText(answer.takenFrom)}, the model takes ${takenText(outcome.takenFrom)}`,
          );
      } else if (o.kind === 'reverse') {
        const outcome = model.reverse({ customerId, redemptionId: o.redemptionId, nowMs: o.atMs });
        if (outcome.outcome !== 'reversed')
          mismatches.push(`customer ${customerId}: reversal of ${o.redemptionId} booked, the model says not found`);
      } else {
        model.expire(o.lotId, o.atMs);
      }
    }

    const predicted = model.entriesOf(customerId);
    const booked: ModelEntry[] = own.map((e) => ({
      customerId,
      lotId: e.lot_id ?? '',
      kind: e.kind as ModelEntry['kind'],
      points: e.points,
    }));
    // Entries compared as a multiset per lot and kind: within one operation the ledger may book its lots in any order.
    const tally = (list: ModelEntry[]) => {
      const counts = new Map<string, number>();
      for (const e of list)
        counts.set(`${e.lotId} ${e.kind} ${e.points}`, (counts.get(`${e.lotId} ${e.kind} ${e.points}`) ?? 0) + 1);
      return counts;
    };
    const want = tally(predicted);
    const got = tally(booked);
    for (const key of new Set([...want.keys(), ...got.keys()])) {
      if ((want.get(key) ?? 0) !== (got.get(key) ?? 0))
        mismatches.push(
          `customer ${customerId}: ledger entry [${key}] booked ${got.get(key) ?? 0} time(s), the model says ${want.get(key) ?? 0}`,
        );
    }
    for (const lot of model.lotsOf(customerId)) {
      const row = lotById.get(lot.lotId)!;
      if (row.remaining !== lot.remaining)
        mismatches.push(
          `customer ${customerId}: lot ${row.credit_key} has ${row.remaining} left, the model says ${lot.remaining}`,
        );
      if ((row.expired_at !== null) !== lot.expired)
        mismatches.push(
          `customer ${customerId}: lot ${row.credit_key} ${row.expired_at ? 'expired' : 'live'}, the model says ${lot.expired ? 'expired' : 'live'}`,
        );
    }
    const balance = model.balance(customerId);
    if (balance !== balances.get(customerId))
      mismatches.push(`customer ${customerId}: balance ${balances.get(customerId)}, the model says ${balance}`);
  }
  return mismatches;
}

const sameTaken = (a: ModelTaken[], b: ModelTaken[]): boolean => takenText(a) === takenText(b);

const takenText = (taken: ModelTaken[]): string =>
  [...taken]
    .sort((x, y) => (x.lotId < y.lotId ? -1 : x.lotId > y.lotId ? 1 : 0))
    .map((t) => `${t.points}@${t.lotId.slice(0, 8)}`)
    .join('+') || 'nothing';
