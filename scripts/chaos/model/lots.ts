/**
 * Reference model of a customer's points (DESIGN §4 "Points", §5.2; README "Points and their lots"), in memory.
 *
 * - A credit is a lot, once per credit key: the same key again finds the first lot and books nothing. An admin credit
 *   (kind `adjustment`) books an `adjust` entry, the others a `credit` entry. The customer exists from their first credit.
 * - A redemption takes from the open lots (something left, not expired, expiry still ahead) soonest-expiring first,
 *   then earliest credited, then by lot id; all or nothing. Once per (customer, redemptionId): the same points again
 *   answer the first result as a duplicate (also once reversed), other points are a conflict.
 * - A reversal gives each lot back what was taken from it, once; points returned to a lot that has expired expire
 *   again at once (a `reverse` and an `expire` entry). A lot past its expiry whose timer has not run takes them back.
 * - An admin debit takes like a redemption, once per (customer, adjustmentId); an id that credited a lot conflicts.
 * - A lot's expiry takes what is left of it, once, with an entry when something was left.
 * - The balance is the sum of the customer's entries.
 *
 * Lot ids are the ledger's (random UUIDs): callers pass the id the ledger gave, because ties between lots of equal
 * expiry and credit instant go by it. Ids compare as PostgreSQL compares uuids, i.e. as lower-case hex text.
 *
 *   const model = new LotsModel();
 *   model.credit({...}), model.redeem({...}), model.reverse({...}), model.debit({...}), model.expire(lotId, nowMs)
 *   model.balance(customerId), model.lotsOf(customerId), model.entriesOf(customerId), model.clone()
 */

export type ModelLotSource = 'referral' | 'milestone' | 'adjustment';
export type ModelEntryKind = 'credit' | 'adjust' | 'redeem' | 'reverse' | 'expire';

export interface ModelLot {
  lotId: string;
  customerId: string;
  creditKey: string;
  source: ModelLotSource;
  points: number;
  remaining: number;
  creditedAtMs: number;
  expiresAtMs: number;
  /** its expiry has run */
  expired: boolean;
}

export interface ModelEntry {
  customerId: string;
  lotId: string;
  kind: ModelEntryKind;
  /** signed */
  points: number;
}

export interface ModelTaken {
  lotId: string;
  points: number;
}

export type ModelRedemption =
  | { outcome: 'redeemed'; takenFrom: ModelTaken[]; balance: number; duplicate: boolean }
  | { outcome: 'conflict' }
  | { outcome: 'insufficient'; balance: number }
  | { outcome: 'unknown_customer' };

export type ModelReversal = { outcome: 'reversed'; balance: number; duplicate: boolean } | { outcome: 'not_found' };

export type ModelDebit =
  | { outcome: 'debited'; takenFrom: ModelTaken[]; balance: number; duplicate: boolean }
  | { outcome: 'conflict' }
  | { outcome: 'insufficient'; balance: number }
  | { outcome: 'unknown_customer' };

/** The credit key of an admin adjustment, as the ledger forms it (each part URI-encoded, joined by colons). */
export const adjustmentCreditKey = (customerId: string, adjustmentId: string): string =>
  ['adjustment', customerId, adjustmentId].map(encodeURIComponent).join(':');

interface Redemption {
  points: number;
  takenFrom: ModelTaken[];
  reversed: boolean;
}

const pairKey = (customerId: string, id: string): string => JSON.stringify([customerId, id]);

export class LotsModel {
  private customers = new Set<string>();
  private lots = new Map<string, ModelLot>();
  private lotIdByKey = new Map<string, string>();
  private redemptions = new Map<string, Redemption>();
  private debits = new Map<string, ModelTaken[]>();
  private entries: ModelEntry[] = [];

  clone(): LotsModel {
    const copy = new LotsModel();
    copy.customers = new Set(this.customers);
    copy.lots = new Map([...this.lots].map(([id, lot]) => [id, { ...lot }]));
    copy.lotIdByKey = new Map(this.lotIdByKey);
    copy.redemptions = new Map(
      [...this.redemptions].map(([k, r]) => [k, { ...r, takenFrom: r.takenFrom.map((t) => ({ ...t })) }]),
    );
    copy.debits = new Map([...this.debits].map(([k, taken]) => [k, taken.map((t) => ({ ...t }))]));
    copy.entries = this.entries.map((e) => ({ ...e }));
    return copy;
  }

  credit(request: {
    customerId: string;
    /** the id the ledger gave the new lot */
    lotId: string;
    creditKey: string;
    source: ModelLotSource;
    points: number;
    creditedAtMs: number;
    expiresAtMs: number;
  }): { lotId: string; created: boolean } {
    this.customers.add(request.customerId);
    const existing = this.lotIdByKey.get(request.creditKey);
    if (existing !== undefined) return { lotId: existing, created: false };
    this.lots.set(request.lotId, {
      lotId: request.lotId,
      customerId: request.customerId,
      creditKey: request.creditKey,
      source: request.source,
      points: request.points,
      remaining: request.points,
      creditedAtMs: request.creditedAtMs,
      expiresAtMs: request.expiresAtMs,
      expired: false,
    });
    this.lotIdByKey.set(request.creditKey, request.lotId);
    this.book(request.customerId, request.lotId, request.source === 'adjustment' ? 'adjust' : 'credit', request.points);
    return { lotId: request.lotId, created: true };
  }

  redeem(request: { customerId: string; redemptionId: string; points: number; nowMs: number }): ModelRedemption {
    if (!this.customers.has(request.customerId)) return { outcome: 'unknown_customer' };
    const key = pairKey(request.customerId, request.redemptionId);
    const earlier = this.redemptions.get(key);
    if (earlier) {
      if (earlier.points !== request.points) return { outcome: 'conflict' };
      return {
        outcome: 'redeemed',
        takenFrom: earlier.takenFrom,
        balance: this.balanceOf(request.customerId),
        duplicate: true,
      };
    }
    const takenFrom = this.take(request.customerId, request.points, request.nowMs, 'redeem');
    if (!takenFrom) return { outcome: 'insufficient', balance: this.balanceOf(request.customerId) };
    this.redemptions.set(key, { points: request.points, takenFrom, reversed: false });
    return { outcome: 'redeemed', takenFrom, balance: this.balanceOf(request.customerId), duplicate: false };
  }

  reverse(request: { customerId: string; redemptionId: string; nowMs: number }): ModelReversal {
    const redemption = this.redemptions.get(pairKey(request.customerId, request.redemptionId));
    if (!this.customers.has(request.customerId) || !redemption) return { outcome: 'not_found' };
    if (!redemption.reversed) {
      for (const { lotId, points } of redemption.takenFrom) {
        const lot = this.lots.get(lotId)!;
        this.book(request.customerId, lotId, 'reverse', points);
        if (lot.expired) this.book(request.customerId, lotId, 'expire', -points);
        else lot.remaining += points;
      }
      redemption.reversed = true;
      return { outcome: 'reversed', balance: this.balanceOf(request.customerId), duplicate: false };
    }
    return { outcome: 'reversed', balance: this.balanceOf(request.customerId), duplicate: true };
  }

  /** `points` is negative: what the admin takes away. */
  debit(request: { customerId: string; adjustmentId: string; points: number; nowMs: number }): ModelDebit {
    if (!this.customers.has(request.customerId)) return { outcome: 'unknown_customer' };
    const key = adjustmentCreditKey(request.customerId, request.adjustmentId);
    if (this.lotIdByKey.has(key)) return { outcome: 'conflict' };
    const earlier = this.debits.get(key);
    if (earlier) {
      const taken = earlier.reduce((sum, t) => sum + t.points, 0);
      if (-taken !== request.points) return { outcome: 'conflict' };
      return { outcome: 'debited', takenFrom: earlier, balance: this.balanceOf(request.customerId), duplicate: true };
    }
    const takenFrom = this.take(request.customerId, -request.points, request.nowMs, 'adjust');
    if (!takenFrom) return { outcome: 'insufficient', balance: this.balanceOf(request.customerId) };
    // Nothing taken leaves nothing to recognise a repeat by, as in the ledger.
    if (takenFrom.length > 0) this.debits.set(key, takenFrom);
    return { outcome: 'debited', takenFrom, balance: this.balanceOf(request.customerId), duplicate: false };
  }

  expire(lotId: string, _nowMs: number): { expired: number } {
    const lot = this.lots.get(lotId);
    if (!lot || lot.expired) return { expired: 0 };
    const left = lot.remaining;
    lot.remaining = 0;
    lot.expired = true;
    if (left > 0) this.book(lot.customerId, lotId, 'expire', -left);
    return { expired: left };
  }

  balance(customerId: string): number | undefined {
    return this.customers.has(customerId) ? this.balanceOf(customerId) : undefined;
  }

  /** The customer's lots in credit order. */
  lotsOf(customerId: string): ModelLot[] {
    return [...this.lots.values()].filter((lot) => lot.customerId === customerId).map((lot) => ({ ...lot }));
  }

  lotByCreditKey(creditKey: string): ModelLot | undefined {
    const id = this.lotIdByKey.get(creditKey);
    return id === undefined ? undefined : { ...this.lots.get(id)! };
  }

  /** The customer's entries in booking order. */
  entriesOf(customerId: string): ModelEntry[] {
    return this.entries.filter((e) => e.customerId === customerId).map((e) => ({ ...e }));
  }

  private balanceOf(customerId: string): number {
    return this.entries.reduce((sum, e) => (e.customerId === customerId ? sum + e.points : sum), 0);
  }

  private take(customerId: string, points: number, nowMs: number, kind: 'redeem' | 'adjust'): ModelTaken[] | undefined {
    const open = [...this.lots.values()]
      .filter((lot) => lot.customerId === customerId && lot.remaining > 0 && !lot.expired && lot.expiresAtMs > nowMs)
      .sort(
        (a, b) =>
          a.expiresAtMs - b.expiresAtMs ||
          a.creditedAtMs - b.creditedAtMs ||
          (a.lotId < b.lotId ? -1 : a.lotId > b.lotId ? 1 : 0),
      );
    if (open.reduce((sum, lot) => sum + lot.remaining, 0) < points) return undefined;
    const taken: ModelTaken[] = [];
    let left = points;
    for (const lot of open) {
      if (left === 0) break;
      const share = Math.min(left, lot.remaining);
      lot.remaining -= share;
      left -= share;
      taken.push({ lotId: lot.lotId, points: share });
      this.book(customerId, lot.lotId, kind, -share);
    }
    return taken;
  }

  private book(customerId: string, lotId: string, kind: ModelEntryKind, points: number): void {
    this.entries.push({ customerId, lotId, kind, points });
  }
}
