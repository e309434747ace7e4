import type { ColumnType, Generated, Insertable, JSONColumnType, Selectable, Updateable } from 'kysely';
import type { ReferralTerms, ReferralStatus } from '../workflows/shared';

/** timestamptz: pg hands back a Date; we write ISO strings or Dates. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint: pg hands back a string so no precision is lost; callers convert where the value is known to be safe. */
type BigIntColumn = ColumnType<string, number | string | bigint, number | string | bigint>;

export interface ProgramTable {
  id: string;
  name: string;
  currency: string;
  active: Generated<boolean>;
  current_version: number;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ProgramVersionTable {
  program_id: string;
  version: number;
  terms: JSONColumnType<ReferralTerms>;
  created_at: DefaultTimestamp;
}

export interface CustomerTable {
  id: string;
  email_normalized: string | null;
  phone_normalized: string | null;
  /** set once, ever: the referral this customer joined through (the "referred once" rule's reservation) */
  referred_by_referral_id: string | null;
  /** equals the sum of the customer's ledger entries, changed in the same transaction as each of them */
  points_balance: ColumnType<string, never, number | string | bigint>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ReferralCodeTable {
  code: string;
  customer_id: string;
  program_id: string;
  created_at: DefaultTimestamp;
}

export type CustomerContextKind = 'ip' | 'device';

/** Where a customer was seen from: one IP or device id the commerce backend sent with their own request. */
export interface CustomerContextTable {
  customer_id: string;
  kind: CustomerContextKind;
  value: string;
  /** the first request it came with; later ones change nothing */
  first_seen_at: Timestamp;
}

export interface ReferralTable {
  id: string;
  program_id: string;
  program_version: number;
  code: string;
  referrer_id: string;
  referee_id: string | null;
  status: ReferralStatus;
  channel: string | null;
  invitee_email: string | null;
  invitee_phone: string | null;
  ip: string | null;
  device_id: string | null;
  created_at: Timestamp;
  registered_at: Timestamp | null;
  qualified_at: Timestamp | null;
  completed_at: Timestamp | null;
  ended_at: Timestamp | null;
  end_reason: string | null;
  /** when the workflow finished (a completed referral's milestone phase runs past ended_at): nothing changes it after */
  closed_at: Timestamp | null;
  expires_at: Timestamp | null;
  qualify_by: Timestamp | null;
  hold_until: Timestamp | null;
  counted_orders: number;
  counted_spend: BigIntColumn;
  /** the workflow's timeline position this row reflects; older writes never overwrite newer ones */
  projection_seq: number;
  /** the latest workflow task the projection heard from (activities/projection-order.ts); null in rows from before it */
  projected_task_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  updated_at: Timestamp;
  /** fraud signals found at claim and signup; empty when none (or when the workflow has not said) */
  flags: ColumnType<string[], string[] | undefined, string[]>;
  /** while the referral is under review: when the admin's decision is due */
  review_decide_by: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** while the referral is under review: when that review started (the review queue's order) */
  review_started_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface ReferralTimelineTable {
  referral_id: string;
  seq: number;
  at: Timestamp;
  kind: string;
  status: ReferralStatus;
  detail: JSONColumnType<Record<string, unknown>> | null;
}

export type InboxEventKind = 'signup' | 'order';
export type InboxEventState = 'received' | 'delivered' | 'awaiting_signup' | 'ignored' | 'failed';

export interface InboxEventTable {
  kind: InboxEventKind;
  event_id: string;
  customer_id: string;
  order_id: string | null;
  payload: JSONColumnType<Record<string, unknown>>;
  /** sha-256 of the canonical payload: a reused event id with a different body is a conflict, not a duplicate */
  payload_hash: string;
  state: Generated<InboxEventState>;
  referral_id: string | null;
  /** the answer given when the event was applied, repeated verbatim to duplicates */
  response: JSONColumnType<Record<string, unknown>> | null;
  attempts: Generated<number>;
  last_error: string | null;
  received_at: DefaultTimestamp;
  delivered_at: Timestamp | null;
  /** the relay leaves the event alone until then: a lease while one relay holds it, then its backoff */
  next_attempt_at: Timestamp | null;
  last_attempt_at: Timestamp | null;
}

export interface ClaimRequestTable {
  idempotency_key: string;
  payload_hash: string;
  referral_id: string;
  /** the answer the first request got, repeated verbatim; null until that request finished */
  response: JSONColumnType<Record<string, unknown>> | null;
  created_at: DefaultTimestamp;
}

export type LotSourceKind = 'referral' | 'milestone' | 'adjustment';
export type LedgerEntryKind = 'credit' | 'redeem' | 'reverse' | 'expire' | 'void' | 'adjust';

export interface PointLotTable {
  id: string;
  customer_id: string;
  points: number;
  remaining: number;
  credited_at: Timestamp;
  expires_at: Timestamp;
  expired_at: Timestamp | null;
  source_kind: LotSourceKind;
  referral_id: string | null;
  program_id: string | null;
  program_version: number | null;
  workflow_run_id: string | null;
  qualifying_order_ids: JSONColumnType<string[]> | null;
  actor: string | null;
  credit_key: string;
}

export interface LedgerEntryTable {
  id: Generated<string>;
  customer_id: string;
  lot_id: string | null;
  kind: LedgerEntryKind;
  /** signed: credits and reversals add, the rest take away */
  points: number;
  entry_key: string;
  redemption_id: string | null;
  referral_id: string | null;
  actor: string | null;
  reason: string | null;
  at: DefaultTimestamp;
}

export interface PointRedemptionTable {
  customer_id: string;
  redemption_id: string;
  points: number;
  taken_from: JSONColumnType<Array<{ lotId: string; points: number }>>;
  created_at: DefaultTimestamp;
  reversed_at: Timestamp | null;
}

export type VoucherStatus = 'active' | 'redeemed' | 'void';

export interface VoucherTable {
  code: string;
  referral_id: string;
  customer_id: string;
  amount: BigIntColumn;
  currency: string;
  issued_at: Timestamp;
  expires_at: Timestamp;
  status: VoucherStatus;
  redemption_key: string | null;
  order_id: string | null;
  redeemed_at: Timestamp | null;
  voided_at: Timestamp | null;
  void_reason: string | null;
}

/** A referral stopped by an activity failure that retrying cannot fix; listed for admins. */
export interface ReferralFaultTable {
  /** the workflow's idempotency key for the fault: referral id plus step */
  id: string;
  referral_id: string;
  activity: string;
  failure_type: string;
  message: string;
  /** the referral's status in the workflow when it stopped */
  status: string;
  detail: JSONColumnType<Record<string, unknown>> | null;
  created_at: DefaultTimestamp;
}

/** An admin action by its requestId: the same request again is answered from here, another body under it refused. */
export interface AdminRequestTable {
  request_id: string;
  action: 'approve' | 'reject' | 'cancel' | 'extend';
  referral_id: string;
  /** sha-256 of the action, the referral, the actor and the body, canonical: what makes a repeat the same request */
  body_hash: string;
  /** the answer the first request got (the referral, or a refusal), repeated verbatim; null until that request finished */
  response: JSONColumnType<Record<string, unknown>> | null;
  created_at: DefaultTimestamp;
}

/** One admin action on a referral, as its workflow applied it; append-only. */
export interface AdminAuditTable {
  id: Generated<string>;
  at: Timestamp;
  actor: string;
  action: 'approve' | 'reject' | 'cancel' | 'extend' | 'move';
  referral_id: string;
  request_id: string;
  reason: string | null;
  before: JSONColumnType<Record<string, unknown>>;
  after: JSONColumnType<Record<string, unknown>>;
}

/** One completed referral, counted once for its referrer, in completion order. */
export interface ReferrerCompletionTable {
  referral_id: string;
  referrer_id: string;
  ordinal: number;
  completed_at: Timestamp;
}

/** An admin's move of open referrals to another programme version; its id is the admin's moveId. */
export interface TermMoveTable {
  move_id: string;
  program_id: string;
  to_version: number;
  /** which referrals: a list of ids and/or a filter over the programme's open referrals */
  selection: JSONColumnType<Record<string, unknown>>;
  actor: string;
  reason: string | null;
  /** sha-256 of the request, canonical: a repeat of the moveId with another body is refused */
  body_hash: string;
  state: 'running' | 'done';
  created_at: DefaultTimestamp;
  finished_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

/** A referral counted for HIGH_VELOCITY before its first projection write (db/customer-contexts.ts). */
export interface ReferralCountedEarlyTable {
  referral_id: string;
  referrer_id: string;
  created_at: Timestamp;
  /** when the count was written (its age for the sweep of leaked counts) */
  counted_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** What one move did to one referral. */
export interface TermMoveItemTable {
  move_id: string;
  referral_id: string;
  outcome: 'moved' | 'skipped' | 'failed';
  from_version: number | null;
  /** why a referral was skipped or failed (workflows/terms-move.ts, activities/term-moves.ts) */
  code: string | null;
  reason: string | null;
  /** the deadlines, the qualification instant and the terms that changed */
  changes: JSONColumnType<Record<string, unknown>> | null;
  at: Timestamp;
}

export interface Database {
  programs: ProgramTable;
  program_versions: ProgramVersionTable;
  customers: CustomerTable;
  referral_codes: ReferralCodeTable;
  customer_contexts: CustomerContextTable;
  referrals: ReferralTable;
  referral_timeline: ReferralTimelineTable;
  inbox_events: InboxEventTable;
  claim_requests: ClaimRequestTable;
  point_lots: PointLotTable;
  ledger_entries: LedgerEntryTable;
  point_redemptions: PointRedemptionTable;
  vouchers: VoucherTable;
  referral_faults: ReferralFaultTable;
  admin_audit: AdminAuditTable;
  referrer_completions: ReferrerCompletionTable;
  admin_requests: AdminRequestTable;
  term_moves: TermMoveTable;
  term_move_items: TermMoveItemTable;
  referrals_counted_early: ReferralCountedEarlyTable;
}

export type Program = Selectable<ProgramTable>;
export type ProgramVersion = Selectable<ProgramVersionTable>;
export type Customer = Selectable<CustomerTable>;
export type NewCustomer = Insertable<CustomerTable>;
export type ReferralCode = Selectable<ReferralCodeTable>;
export type CustomerContext = Selectable<CustomerContextTable>;
export type NewCustomerContext = Insertable<CustomerContextTable>;
export type ReferralRow = Selectable<ReferralTable>;
export type NewReferralRow = Insertable<ReferralTable>;
export type ReferralRowUpdate = Updateable<ReferralTable>;
export type TimelineRow = Selectable<ReferralTimelineTable>;
export type AdminAuditRow = Selectable<AdminAuditTable>;
export type AdminRequestRow = Selectable<AdminRequestTable>;
export type TermMoveRow = Selectable<TermMoveTable>;
export type TermMoveItemRow = Selectable<TermMoveItemTable>;
export type InboxEvent = Selectable<InboxEventTable>;
export type NewInboxEvent = Insertable<InboxEventTable>;
export type ClaimRequest = Selectable<ClaimRequestTable>;
export type PointLot = Selectable<PointLotTable>;
export type NewPointLot = Insertable<PointLotTable>;
export type LedgerEntry = Selectable<LedgerEntryTable>;
export type PointRedemption = Selectable<PointRedemptionTable>;
export type Voucher = Selectable<VoucherTable>;
export type ReferralFault = Selectable<ReferralFaultTable>;
export type NewReferralFault = Insertable<ReferralFaultTable>;
