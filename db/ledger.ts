import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { DB } from './connection';
import type { Database, LedgerEntry, LedgerEntryKind, LotSourceKind, PointLot, PointRedemption } from './schema';

/**
 * The points ledger. Every function runs in one transaction that first locks the customer's row: movements of one
 * customer happen one at a time (concurrent redemptions cannot overdraw), different customers never wait for each
 * other. Every entry carries a key backed by a unique constraint, so a retried call books nothing twice.
 */

type Trx = Transaction<Database>;

export interface Taken {
  lotId: string;
  points: number;
}

/** An idempotency key from its parts; each part is encoded, so ids holding the separator cannot collide. */
export const keyOf = (...parts: string[]): string => parts.map(encodeURIComponent).join(':');

const lockCustomer = (trx: Trx, customerId: string) =>
  trx
    .selectFrom('customers')
    .select(['id', 'points_balance'])
    .where('id', '=', customerId)
    .forUpdate()
    .executeTakeFirst();

async function book(
  trx: Trx,
  entry: {
    customerId: string;
    lotId: string | null;
    kind: LedgerEntryKind;
    points: number;
    key: string;
    at: Date;
    redemptionId?: string | null;
    referralId?: string | null;
    actor?: string | null;
    reason?: string | null;
  },
): Promise<void> {
  await trx
    .insertInto('ledger_entries')
    .values({
      customer_id: entry.customerId,
      lot_id: entry.lotId,
      kind: entry.kind,
      points: entry.points,
      entry_key: entry.key,
      redemption_id: entry.redemptionId ?? null,
      referral_id: entry.referralId ?? null,
      actor: entry.actor ?? null,
      reason: entry.reason ?? null,
      at: entry.at,
    })
    .execute();
  await trx
    .updateTable('customers')
    .set({ points_balance: sql`points_balance + ${entry.points}`, updated_at: entry.at })
    .where('id', '=', entry.customerId)
    .execute();
}

/** A lot, locked for this transaction (its customer is locked first, always in that order). */
const lockLot = (trx: Trx, lotId: string) =>
  trx.selectFrom('point_lots').selectAll().where('id', '=', lotId).forUpdate().executeTakeFirstOrThrow();

const balanceOf = async (trx: Trx, customerId: string): Promise<number> =>
  Number(
    (await trx.selectFrom('customers').select('points_balance').where('id', '=', customerId).executeTakeFirstOrThrow())
      .points_balance,
  );

/** Lots that can give points now, soonest-expiring first, locked for this transaction. */
const openLots = (trx: Trx, customerId: string, now: Date) =>
  trx
    .selectFrom('point_lots')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('remaining', '>', 0)
    .where('expired_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('expires_at')
    .orderBy('credited_at')
    .orderBy('id')
    .forUpdate()
    .execute();

/** Takes `points` from the open lots, soonest-expiring first; undefined (and nothing written) when they hold less. */
async function takeFromLots(
  trx: Trx,
  request: {
    customerId: string;
    points: number;
    now: Date;
    kind: 'redeem' | 'adjust';
    keyPrefix: string;
    redemptionId?: string;
    actor?: string;
    reason?: string;
  },
): Promise<Taken[] | undefined> {
  const lots = await openLots(trx, request.customerId, request.now);
  const available = lots.reduce((sum, lot) => sum + lot.remaining, 0);
  if (available < request.points) return undefined;
  const taken: Taken[] = [];
  let left = request.points;
  for (const lot of lots) {
    if (left === 0) break;
    const points = Math.min(lot.remaining, left);
    left -= points;
    taken.push({ lotId: lot.id, points });
    await trx
      .updateTable('point_lots')
      .set({ remaining: lot.remaining - points })
      .where('id', '=', lot.id)
      .execute();
    await book(trx, {
      customerId: request.customerId,
      lotId: lot.id,
      kind: request.kind,
      points: -points,
      key: `${request.keyPrefix}:${lot.id}`,
      at: request.now,
      redemptionId: request.redemptionId ?? null,
      actor: request.actor ?? null,
      reason: request.reason ?? null,
    });
  }
  return taken;
}

export interface LotCredit {
  customerId: string;
  points: number;
  creditedAt: Date;
  expiresAt: Date;
  source: {
    kind: LotSourceKind;
    referralId?: string | null;
    programId?: string | null;
    programVersion?: number | null;
  };
  workflowRunId?: string | null;
  qualifyingOrderIds?: string[] | null;
  actor?: string | null;
  reason?: string | null;
  /** what credited it; the same key again finds the lot instead of crediting twice */
  creditKey: string;
}

/** Credits a lot and books its entry, once per credit key. The customer is created on first use. */
export async function creditLot(db: DB, credit: LotCredit): Promise<{ lot: PointLot; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto('customers')
      .values({ id: credit.customerId, email_normalized: null, phone_normalized: null, referred_by_referral_id: null })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await lockCustomer(trx, credit.customerId);
    const inserted = await trx
      .insertInto('point_lots')
      .values({
        id: randomUUID(),
        customer_id: credit.customerId,
        points: credit.points,
        remaining: credit.points,
        credited_at: credit.creditedAt,
        expires_at: credit.expiresAt,
        expired_at: null,
        source_kind: credit.source.kind,
        referral_id: credit.source.referralId ?? null,
        program_id: credit.source.programId ?? null,
        program_version: credit.source.programVersion ?? null,
        workflow_run_id: credit.workflowRunId ?? null,
        qualifying_order_ids: credit.qualifyingOrderIds ? JSON.stringify(credit.qualifyingOrderIds) : null,
        actor: credit.actor ?? null,
        credit_key: credit.creditKey,
      })
      .onConflict((oc) => oc.column('credit_key').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) {
      const lot = await trx
        .selectFrom('point_lots')
        .selectAll()
        .where('credit_key', '=', credit.creditKey)
        .executeTakeFirstOrThrow();
      return { lot, created: false };
    }
    await book(trx, {
      customerId: credit.customerId,
      lotId: inserted.id,
      kind: credit.source.kind === 'adjustment' ? 'adjust' : 'credit',
      points: credit.points,
      key: `credit:${credit.creditKey}`,
      at: credit.creditedAt,
      referralId: credit.source.referralId ?? null,
      actor: credit.actor ?? null,
      reason: credit.reason ?? null,
    });
    return { lot: inserted, created: true };
  });
}

export type RedemptionOutcome =
  | { outcome: 'redeemed'; redemption: PointRedemption; balance: number; duplicate: boolean }
  | { outcome: 'conflict'; redemption: PointRedemption }
  | { outcome: 'insufficient'; balance: number }
  | { outcome: 'unknown_customer' };

/** Takes points for a redemption, soonest-expiring lots first, once per (customer, redemptionId). */
export async function redeemPoints(
  db: DB,
  request: { customerId: string; redemptionId: string; points: number; now: Date },
): Promise<RedemptionOutcome> {
  return db.transaction().execute(async (trx): Promise<RedemptionOutcome> => {
    if (!(await lockCustomer(trx, request.customerId))) return { outcome: 'unknown_customer' };
    const earlier = await findRedemption(trx, request.customerId, request.redemptionId);
    if (earlier) {
      if (earlier.points !== request.points) return { outcome: 'conflict', redemption: earlier };
      // A reversed redemption's id is not free again: it answers as a duplicate whose reversed_at says nothing is taken.
      return {
        outcome: 'redeemed',
        redemption: earlier,
        balance: await balanceOf(trx, request.customerId),
        duplicate: true,
      };
    }
    const taken = await takeFromLots(trx, {
      customerId: request.customerId,
      points: request.points,
      now: request.now,
      kind: 'redeem',
      keyPrefix: keyOf('redeem', request.customerId, request.redemptionId),
      redemptionId: request.redemptionId,
    });
    if (!taken) return { outcome: 'insufficient', balance: await balanceOf(trx, request.customerId) };
    const redemption = await trx
      .insertInto('point_redemptions')
      .values({
        customer_id: request.customerId,
        redemption_id: request.redemptionId,
        points: request.points,
        taken_from: JSON.stringify(taken),
        created_at: request.now,
        reversed_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { outcome: 'redeemed', redemption, balance: await balanceOf(trx, request.customerId), duplicate: false };
  });
}

const findRedemption = (trx: Trx, customerId: string, redemptionId: string) =>
  trx
    .selectFrom('point_redemptions')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('redemption_id', '=', redemptionId)
    .executeTakeFirst();

export type ReversalOutcome = { outcome: 'reversed'; balance: number; duplicate: boolean } | { outcome: 'not_found' };

/**
 * Puts a redemption's points back into the lots they came from, once. Points going back to a lot that has expired
 * meanwhile expire again at once, with an entry saying so. A lot past its expiry time whose timer has not run yet is
 * not expired here: its points go back and its own expiry, still to come, takes everything left.
 */
export async function reverseRedemption(
  db: DB,
  request: { customerId: string; redemptionId: string; now: Date },
): Promise<ReversalOutcome> {
  return db.transaction().execute(async (trx): Promise<ReversalOutcome> => {
    if (!(await lockCustomer(trx, request.customerId))) return { outcome: 'not_found' };
    const redemption = await findRedemption(trx, request.customerId, request.redemptionId);
    if (!redemption) return { outcome: 'not_found' };
    if (redemption.reversed_at)
      return { outcome: 'reversed', balance: await balanceOf(trx, request.customerId), duplicate: true };
    for (const { lotId, points } of redemption.taken_from) {
      const lot = await lockLot(trx, lotId);
      const key = keyOf('reverse', request.customerId, request.redemptionId, lotId);
      // An expired lot keeps nothing: what comes back to it leaves again below.
      if (!lot.expired_at) {
        await trx
          .updateTable('point_lots')
          .set({ remaining: lot.remaining + points })
          .where('id', '=', lotId)
          .execute();
      }
      await book(trx, {
        customerId: request.customerId,
        lotId,
        kind: 'reverse',
        points,
        key,
        at: request.now,
        redemptionId: request.redemptionId,
      });
      if (lot.expired_at) {
        await book(trx, {
          customerId: request.customerId,
          lotId,
          kind: 'expire',
          points: -points,
          key: `expire:${key}`,
          at: request.now,
          redemptionId: request.redemptionId,
          reason: 'returned to a lot that had expired',
        });
      }
    }
    await trx
      .updateTable('point_redemptions')
      .set({ reversed_at: request.now })
      .where('customer_id', '=', request.customerId)
      .where('redemption_id', '=', request.redemptionId)
      .execute();
    return { outcome: 'reversed', balance: await balanceOf(trx, request.customerId), duplicate: false };
  });
}

export type DebitOutcome =
  | { outcome: 'debited'; balance: number; takenFrom: Taken[]; duplicate: boolean }
  | { outcome: 'conflict' }
  | { outcome: 'insufficient'; balance: number }
  | { outcome: 'unknown_customer' };

/** What an adjustment under this id is booked with: its credit key names its lot, or prefixes its debit entries. */
export const adjustmentKey = (customerId: string, adjustmentId: string): string =>
  keyOf('adjustment', customerId, adjustmentId);

/** What was booked under an adjustment id before: the lot a credit made, or the points a debit took. */
export async function findAdjustment(
  db: DB,
  customerId: string,
  adjustmentId: string,
): Promise<{ kind: 'credit'; lot: PointLot } | { kind: 'debit'; points: number; takenFrom: Taken[] } | undefined> {
  const key = adjustmentKey(customerId, adjustmentId);
  const lot = await db.selectFrom('point_lots').selectAll().where('credit_key', '=', key).executeTakeFirst();
  if (lot) return { kind: 'credit', lot };
  const entries = await db
    .selectFrom('ledger_entries')
    .select(['lot_id', 'points'])
    // by customer first: a LIKE prefix uses the entry_key index only under the C collation
    .where('customer_id', '=', customerId)
    .where('entry_key', 'like', `${escapeLike(key)}:%`)
    .orderBy('id')
    .execute();
  if (entries.length === 0) return undefined;
  return {
    kind: 'debit',
    points: entries.reduce((sum, e) => sum + e.points, 0),
    takenFrom: entries.map((e) => ({ lotId: e.lot_id!, points: -e.points })),
  };
}

/**
 * An admin's debit, once per (customer, adjustmentId): it takes from the soonest-expiring lots like a redemption and
 * is refused when they hold too little. (A credit is a lot: its workflow books it.)
 */
export async function debitPoints(
  db: DB,
  request: { customerId: string; adjustmentId: string; points: number; reason: string; actor: string; now: Date },
): Promise<DebitOutcome> {
  const key = adjustmentKey(request.customerId, request.adjustmentId);
  return db.transaction().execute(async (trx): Promise<DebitOutcome> => {
    if (!(await lockCustomer(trx, request.customerId))) return { outcome: 'unknown_customer' };
    const earlier = await findAdjustment(trx, request.customerId, request.adjustmentId);
    if (earlier) {
      if (earlier.kind === 'credit' || earlier.points !== request.points) return { outcome: 'conflict' };
      return {
        outcome: 'debited',
        balance: await balanceOf(trx, request.customerId),
        takenFrom: earlier.takenFrom,
        duplicate: true,
      };
    }
    const taken = await takeFromLots(trx, {
      customerId: request.customerId,
      points: -request.points,
      now: request.now,
      kind: 'adjust',
      keyPrefix: key,
      actor: request.actor,
      reason: request.reason,
    });
    if (!taken) return { outcome: 'insufficient', balance: await balanceOf(trx, request.customerId) };
    return {
      outcome: 'debited',
      balance: await balanceOf(trx, request.customerId),
      takenFrom: taken,
      duplicate: false,
    };
  });
}

export const findLotByCreditKey = (db: DB, creditKey: string): Promise<PointLot | undefined> =>
  db.selectFrom('point_lots').selectAll().where('credit_key', '=', creditKey).executeTakeFirst();

/** A customer's balance now; undefined for a customer never seen. */
export async function findBalance(db: DB, customerId: string): Promise<number | undefined> {
  const row = await db.selectFrom('customers').select('points_balance').where('id', '=', customerId).executeTakeFirst();
  return row ? Number(row.points_balance) : undefined;
}

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** What is left of a lot expires, once; its expiry timer calls this. */
export async function expireLot(db: DB, lotId: string, now: Date): Promise<{ expired: number }> {
  return db.transaction().execute(async (trx) => {
    const found = await trx.selectFrom('point_lots').select('customer_id').where('id', '=', lotId).executeTakeFirst();
    if (!found) return { expired: 0 };
    await lockCustomer(trx, found.customer_id);
    const lot = await lockLot(trx, lotId);
    if (lot.expired_at) return { expired: 0 };
    await trx.updateTable('point_lots').set({ remaining: 0, expired_at: now }).where('id', '=', lotId).execute();
    if (lot.remaining > 0) {
      await book(trx, {
        customerId: lot.customer_id,
        lotId,
        kind: 'expire',
        points: -lot.remaining,
        key: `expire:${lotId}`,
        at: now,
      });
    }
    return { expired: lot.remaining };
  });
}

export interface CustomerPoints {
  balance: number;
  lots: PointLot[];
}

/**
 * A customer's balance and lots, newest first (and every ledger entry, for the admin's view); undefined for a customer
 * never seen. Read in one snapshot: each statement of a plain read sees its own moment, so a lot's expiry committing
 * between them would show the lot expired beside a balance that still counts it.
 */
export function findCustomerPoints(db: DB, customerId: string): Promise<CustomerPoints | undefined>;
export function findCustomerPoints(
  db: DB,
  customerId: string,
  options: { withEntries: true },
): Promise<(CustomerPoints & { entries: LedgerEntry[] }) | undefined>;
export async function findCustomerPoints(
  db: DB,
  customerId: string,
  options?: { withEntries: true },
): Promise<(CustomerPoints & { entries?: LedgerEntry[] }) | undefined> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (trx) => {
      const customer = await trx
        .selectFrom('customers')
        .select('points_balance')
        .where('id', '=', customerId)
        .executeTakeFirst();
      if (!customer) return undefined;
      const lots = await trx
        .selectFrom('point_lots')
        .selectAll()
        .where('customer_id', '=', customerId)
        .orderBy('credited_at', 'desc')
        .orderBy('id')
        .execute();
      const points = { balance: Number(customer.points_balance), lots };
      if (!options?.withEntries) return points;
      return { ...points, entries: await findLedgerEntries(trx, customerId) };
    });
}

export const findLedgerEntries = (db: DB, customerId: string): Promise<LedgerEntry[]> =>
  db.selectFrom('ledger_entries').selectAll().where('customer_id', '=', customerId).orderBy('id').execute();

export interface LedgerOffence {
  rule: string;
  subject: string;
  detail: string;
}

/**
 * The ledger's invariants over the whole database; an empty list when they all hold. Run by `npm run ledger:check`
 * and by the tests after every scenario that moves points.
 */
export async function checkLedger(db: DB): Promise<LedgerOffence[]> {
  const offences: LedgerOffence[] = [];
  const balances = await sql<{ id: string; balance: string; booked: string }>`
    select c.id, c.points_balance::text as balance, coalesce(sum(e.points), 0)::text as booked
      from customers c left join ledger_entries e on e.customer_id = c.id
     group by c.id, c.points_balance
    having c.points_balance <> coalesce(sum(e.points), 0)`.execute(db);
  for (const row of balances.rows) {
    offences.push({
      rule: 'balance = sum of ledger',
      subject: `customer ${row.id}`,
      detail: `balance ${row.balance}, ledger ${row.booked}`,
    });
  }
  const lots = await sql<{ id: string; remaining: number; points: number; booked: string }>`
    select l.id, l.remaining, l.points, coalesce(sum(e.points), 0)::text as booked
      from point_lots l left join ledger_entries e on e.lot_id = l.id
     group by l.id
    having l.remaining <> coalesce(sum(e.points), 0) or l.remaining < 0 or l.remaining > l.points`.execute(db);
  for (const row of lots.rows) {
    offences.push({
      rule: 'lot remaining = its entries, within [0, credit]',
      subject: `lot ${row.id}`,
      detail: `remaining ${row.remaining} of ${row.points}, entries ${row.booked}`,
    });
  }
  // With the rule above (remaining = the lot's entries), nothing left means what was left got its expiry entry.
  const expired = await sql<{ id: string; remaining: number }>`
    select id, remaining from point_lots where expired_at is not null and remaining <> 0`.execute(db);
  for (const row of expired.rows) {
    offences.push({
      rule: 'an expired lot has its expiry entry and nothing left',
      subject: `lot ${row.id}`,
      detail: `remaining ${row.remaining}`,
    });
  }
  const doubled = await sql<{ referral_id: string; source_kind: string; n: string }>`
    select referral_id, source_kind, count(*)::text as n from point_lots
     where referral_id is not null and source_kind in ('referral','milestone')
     group by referral_id, source_kind having count(*) > 1`.execute(db);
  for (const row of doubled.rows) {
    offences.push({
      rule: 'at most one reward of each kind per referral',
      subject: `referral ${row.referral_id}`,
      detail: `${row.n} ${row.source_kind} lots`,
    });
  }
  const vouchers = await sql<{ code: string; referral_id: string; status: string; referral_status: string }>`
    select v.code, v.referral_id, v.status, r.status as referral_status
      from vouchers v join referrals r on r.id = v.referral_id
     where r.status in ('expired','cancelled','rejected') and v.status = 'active'`.execute(db);
  for (const row of vouchers.rows) {
    offences.push({
      rule: 'the voucher of a failed referral is void or used',
      subject: `voucher ${row.code}`,
      detail: `active while referral ${row.referral_id} is ${row.referral_status}`,
    });
  }
  return offences;
}
