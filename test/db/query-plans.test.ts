import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInboxActivities } from '../../activities/inbox';
import { createReferralActivities } from '../../activities/referrals';
import { findAdminAuditPage, findAuditOfRequest } from '../../db/admin-audit';
import { recordClaimResponse, reserveClaimRequest } from '../../db/claim-requests';
import type { DB } from '../../db/connection';
import { findInboxEvent, leaseNextUndeliveredEvent } from '../../db/inbox';
import { creditLot, findCustomerPoints, findLedgerEntries, redeemPoints } from '../../db/ledger';
import { createProgram } from '../../db/programs';
import {
  appendLateFact,
  countReferralsOfReferrer,
  countReferrerCompletions,
  findPendingClaimFor,
  findReferral,
  findReferralsOfCustomer,
  findReferrerProgramTerms,
  findTimeline,
} from '../../db/referrals';
import type { Database } from '../../db/schema';
import {
  findVoucherOfReferral,
  findVouchersOfCustomer,
  issueVoucher,
  redeemVoucher,
  voidVoucherOfReferral,
} from '../../db/vouchers';
import { performAdminAction } from '../../intake/admin-actions';
import { listAdminAudit, type AdminAuditQuery } from '../../intake/admin-audit';
import type { IntakeDependencies } from '../../intake/deps';
import { readCustomerReferrals } from '../../intake/customer-referrals';
import { computeFraudFlags, recordCustomerContext } from '../../intake/fraud-flags';
import { handleOrder } from '../../intake/order-delivery';
import { encodeCursor } from '../../intake/page-cursor';
import { listReferrals, listReviewQueue, type ReferralListQuery } from '../../intake/referral-list';
import { selectTermsMoveCandidates } from '../../db/term-moves';
import { claimReferral } from '../../intake/referral-claim';
import { readRewards } from '../../intake/referral-rewards';
import { handleSignup } from '../../intake/signup-registration';
import { DEFAULT_REFERRAL_TERMS, REVIEW_DEFAULTS, TASK_QUEUE, type ReferralSnapshot } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';

/**
 * The queries a request runs, each explained as the code sends it (captured from the statements the real functions
 * execute, parameters and all), over tables big enough for the planner's choice to mean something. A query that
 * cannot use an index reads the whole table on every request once it holds production's rows, so a sequential scan
 * of any of these tables fails the test, naming the statement.
 */

/** Tables that grow with customers, referrals, orders and points; the programme tables stay a handful of rows. */
const GROWING_TABLES = new Set([
  'customers',
  'customer_contexts',
  'referral_codes',
  'referrals',
  'referral_timeline',
  'inbox_events',
  'claim_requests',
  'point_lots',
  'ledger_entries',
  'point_redemptions',
  'vouchers',
  'admin_audit',
  'admin_requests',
  'referrer_completions',
]);

const ROWS = 20_000;
const PROGRAM = 'program-plans';

let db: DB;
let drop: () => Promise<void>;
/** The same database through a client that keeps every statement it sends. */
let traced: DB;
const sent: CompiledQuery[] = [];

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

interface Explained {
  sql: string;
  nodes: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** Runs `work` against the traced client and explains every statement it sent, in order. */
async function explainWhat(work: (db: DB) => Promise<unknown>): Promise<Explained[]> {
  sent.length = 0;
  await work(traced);
  const statements = sent.filter((q) => /^\s*(select|insert|update|delete|with)\b/i.test(q.sql));
  const explained: Explained[] = [];
  for (const statement of statements) {
    const { rows } = await db.executeQuery<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      CompiledQuery.raw(`explain (format json) ${statement.sql}`, [...statement.parameters]),
    );
    explained.push({ sql: statement.sql.replace(/\s+/g, ' ').trim(), nodes: nodesOf(rows[0]!['QUERY PLAN'][0]!.Plan) });
  }
  return explained;
}

/** Every sequential scan of a growing table, as "table: statement", so a failure names the query at fault. */
const fullScans = (explained: Explained[]): string[] =>
  explained.flatMap(({ sql: text, nodes }) =>
    nodes
      .filter((n) => n['Node Type'] === 'Seq Scan' && GROWING_TABLES.has(n['Relation Name'] ?? ''))
      .map((n) => `${n['Relation Name']}: ${text}`),
  );

const indexesUsed = (explained: Explained[]): string[] =>
  explained.flatMap(({ nodes }) => nodes.flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])));

/** A plan that reads no growing table in full, and (when named) reaches the rows through these indexes. */
async function expectIndexed(work: (db: DB) => Promise<unknown>, indexes: string[] = []): Promise<void> {
  const explained = await explainWhat(work);
  expect(explained.length).toBeGreaterThan(0);
  expect(fullScans(explained)).toEqual([]);
  expect(indexesUsed(explained)).toEqual(expect.arrayContaining(indexes));
}

/** Temporal as the intake sees it when every call succeeds: the requests' database work is all that runs. */
function temporalAnswering(snapshot: (referralId: string) => Partial<ReferralSnapshot>): Client {
  const handle = (workflowId: string) => ({
    signal: async () => undefined,
    executeUpdate: async () => snapshot(workflowId.replace(/^referral-/, '')),
  });
  return {
    withDeadline: <T>(_deadline: number, call: () => Promise<T>) => call(),
    workflow: {
      getHandle: handle,
      executeUpdateWithStart: async () => snapshot(randomUUID()),
    },
  } as unknown as Client;
}

const intakeOver = (database: DB): IntakeDependencies => ({
  db: database,
  temporal: temporalAnswering((referralId) => ({ referralId, status: 'registered', deadlines: {} as never })),
  clock: () => new Date('2026-01-02T00:00:00Z'),
  logger: pino({ level: 'silent' }),
  taskQueue: TASK_QUEUE,
});

/**
 * Production's shape at 20,000 of each: 2,000 referrers with a code each; their referrals 40% pending claims, the rest
 * registered, completed or expired; each customer's orders and signups in the inbox, nearly all delivered; lots, their
 * ledger entries, vouchers and claim keys to match.
 */
const SEED = [
  sql`insert into customers (id, email_normalized, phone_normalized)
        select 'cust-' || i, 'cust' || i || '@example.com', '+4670' || lpad(i::text, 7, '0')
          from generate_series(1, ${ROWS}::int) i`,
  sql`insert into referral_codes (code, customer_id, program_id)
        select 'CODE' || lpad(i::text, 4, '0'), 'cust-' || i, ${PROGRAM} from generate_series(1, 2000) i`,
  sql`insert into referrals (id, program_id, program_version, code, referrer_id, referee_id, status, invitee_email,
                             invitee_phone, created_at, expires_at, projection_seq, updated_at)
        select md5('referral' || i)::uuid, ${PROGRAM}, 1, 'CODE' || lpad((i % 2000 + 1)::text, 4, '0'),
               'cust-' || (i % 2000 + 1), case when i % 10 < 4 then null else 'cust-' || i end,
               (array['pending','pending','pending','pending','registered','registered','registered','completed',
                      'completed','expired'])[i % 10 + 1],
               'invitee' || i || '@example.com', '+4671' || lpad(i::text, 7, '0'),
               timestamptz '2025-12-01' + i * interval '1 minute', timestamptz '2025-12-15' + i * interval '1 minute',
               3, now()
          from generate_series(1, ${ROWS}::int) i`,
  sql`update customers c set referred_by_referral_id = r.id from referrals r where r.referee_id = c.id`,
  sql`insert into referral_timeline (referral_id, seq, at, kind, status)
        select r.id, s, r.created_at + s * interval '1 hour', 'transition', r.status
          from referrals r cross join generate_series(1, 3) s`,
  sql`insert into inbox_events (kind, event_id, customer_id, order_id, payload, payload_hash, state, referral_id,
                                received_at)
        select 'order', 'order-' || i, c.id, 'o-' || i, '{}', md5(i::text),
               case when c.referred_by_referral_id is null then 'awaiting_signup'
                    when i % 97 = 0 then 'received' else 'delivered' end,
               c.referred_by_referral_id, timestamptz '2025-12-01' + i * interval '1 minute'
          from generate_series(1, ${ROWS}::int) i join customers c on c.id = 'cust-' || (i % ${ROWS}::int + 1)`,
  sql`insert into inbox_events (kind, event_id, customer_id, payload, payload_hash, state, referral_id, received_at)
        select 'signup', 'signup-' || c.id, c.id, '{}', md5(c.id), 'delivered', c.referred_by_referral_id, c.created_at
          from customers c`,
  sql`insert into point_lots (id, customer_id, points, remaining, credited_at, expires_at, source_kind, referral_id,
                              credit_key)
        select md5('lot' || i)::uuid, 'cust-' || (i % 2000 + 1), 100, case when i % 3 = 0 then 0 else 100 end,
               timestamptz '2025-12-01' + i * interval '1 minute', timestamptz '2026-12-01' + i * interval '1 minute',
               'referral', md5('referral' || i)::uuid, 'referral:' || i
          from generate_series(1, ${ROWS}::int) i`,
  sql`insert into ledger_entries (customer_id, lot_id, kind, points, entry_key)
        select customer_id, id, 'credit', points, 'credit:' || credit_key from point_lots`,
  sql`insert into ledger_entries (customer_id, lot_id, kind, points, entry_key)
        select customer_id, id, 'redeem', -points, 'redeem:' || credit_key from point_lots where remaining = 0`,
  sql`update customers c set points_balance = l.sum
        from (select customer_id, sum(points) as sum from ledger_entries group by customer_id) l
       where l.customer_id = c.id`,
  sql`insert into point_redemptions (customer_id, redemption_id, points, taken_from)
        select customer_id, 'redemption-' || credit_key, points, '[]' from point_lots where remaining = 0`,
  sql`insert into vouchers (code, referral_id, customer_id, amount, currency, issued_at, expires_at, status)
        select 'VOUCHER' || lpad(r.n::text, 5, '0'), r.id, r.referee_id, 500, 'EUR', r.created_at,
               r.created_at + interval '60 days', 'active'
          from (select id, referee_id, created_at, row_number() over (order by id) as n
                  from referrals where referee_id is not null) r`,
  sql`insert into claim_requests (idempotency_key, payload_hash, referral_id)
        select 'claim-key-' || i, md5(i::text), md5('referral' || i)::uuid from generate_series(1, ${ROWS}::int) i`,
  // One referral in a hundred flagged, half of those waiting in the review queue; each changed some time after it was
  // created, as the admin lists' updatedFrom and updatedTo see them.
  sql`insert into referrals (id, program_id, program_version, code, referrer_id, status, created_at, projection_seq,
                             updated_at, flags, review_decide_by)
        select md5('flagged' || i)::uuid, ${PROGRAM}, 1, 'CODE' || lpad((i % 2000 + 1)::text, 4, '0'),
               'cust-' || (i % 2000 + 1), case when i % 2 = 0 then 'under_review' else 'completed' end,
               timestamptz '2025-12-01' + i * interval '100 minutes', 3, now(), array['SAME_IP', 'HIGH_VELOCITY'],
               case when i % 2 = 0 then timestamptz '2025-12-15' + i * interval '100 minutes' end
          from generate_series(1, ${ROWS / 100}::int) i`,
  sql`update referrals set updated_at = created_at + (abs(hashtext(id::text)) % 2000) * interval '1 hour'`,
  // Reviews start when the referee signs up, from minutes to weeks after the claim: not in the order of creation.
  sql`update referrals set review_started_at = created_at + (abs(hashtext(id::text || 'review')) % 500) * interval '1 hour'
       where status = 'under_review'`,
];

beforeAll(async () => {
  let url: string;
  ({ db, url, drop } = await createTestDatabase());
  traced = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
    log: (event) => {
      if (event.level === 'query') sent.push(event.query);
    },
  });
  await createProgram(db, { id: PROGRAM, name: 'Plans', currency: 'EUR', terms: DEFAULT_REFERRAL_TERMS });
  for (const statement of SEED) await statement.execute(db);
  await sql`analyze`.execute(db);
});

afterAll(async () => {
  await traced?.destroy();
  await drop();
});

// Seeded referral i: code CODE(i % 2000 + 1), invitee invitee<i>@example.com / +4671<i, 7 digits>, pending when
// i % 10 < 4, referee cust-<i> otherwise. This is referral 2's claim.
const pendingClaim = { code: 'CODE0003', email: 'invitee2@example.com', phone: '+46710000002' };
const referralOf = async (i: number) =>
  (await sql<{ id: string }>`select md5(${`referral${i}`})::uuid as id`.execute(db)).rows[0]!.id;

describe('query plans on the request path', () => {
  it('given orders that came before the signup, when the referee is registered, then taking them from the inbox reads the undelivered and this referral’s orders through indexes', async () => {
    const referralId = randomUUID();
    for (const n of [1, 2]) {
      await db
        .insertInto('inbox_events')
        .values({
          kind: 'order',
          event_id: `early-order-${n}`,
          customer_id: 'newcomer',
          payload: JSON.stringify({ eventId: `early-order-${n}`, occurredAt: '2026-01-01T00:00:00Z' }),
          payload_hash: `early-${n}`,
          state: 'awaiting_signup',
        })
        .execute();
    }
    await expectIndexed(
      (database) =>
        createInboxActivities({ db: database }).takeOrdersAwaitingSignup({ referralId, refereeId: 'newcomer' }),
      ['inbox_events_undelivered_idx', 'inbox_events_order_referral_idx'],
    );
  });

  it('given a referral being registered, when the referee is reserved, then the customers are read by key', async () => {
    await expectIndexed((database) =>
      createReferralActivities({ db: database }).registerReferee({
        referralId: randomUUID(),
        referrerId: 'cust-11',
        signup: { eventId: 'reserve-1', refereeId: 'reserved-newcomer', occurredAt: '2026-01-02T00:00:00Z' },
      }),
    );
  });

  it('given a code with many claims, when a signup brings the code and the invitee’s e-mail and phone, then its pending claim is found through the invitee indexes', async () => {
    await expectIndexed(
      (database) =>
        findPendingClaimFor(database, pendingClaim.code, {
          email: pendingClaim.email,
          phone: pendingClaim.phone,
          at: new Date('2025-12-02T00:00:00Z'),
        }),
      ['referrals_pending_email_idx', 'referrals_pending_phone_idx'],
    );
  });

  it('given a signup with the code and only an e-mail, when its claim is looked up, then the e-mail index finds it', async () => {
    await expectIndexed(
      (database) =>
        findPendingClaimFor(database, pendingClaim.code, { email: pendingClaim.email, at: new Date('2025-12-02') }),
      ['referrals_pending_email_idx'],
    );
  });

  it('given a signup with the code and only a phone, when its claim is looked up, then the phone index finds it', async () => {
    await expectIndexed(
      (database) =>
        findPendingClaimFor(database, pendingClaim.code, { phone: pendingClaim.phone, at: new Date('2025-12-02') }),
      ['referrals_pending_phone_idx'],
    );
  });

  it('given a coded signup for a pending claim, when it is handled end to end, then every statement it sends uses an index', async () => {
    await expectIndexed(
      (database) =>
        handleSignup(intakeOver(database), {
          eventId: 'plans-signup-claimed',
          customerId: 'claimed-newcomer',
          code: pendingClaim.code,
          email: pendingClaim.email,
          occurredAt: '2025-12-02T00:00:00Z',
        }),
      ['referrals_pending_email_idx'],
    );
  });

  it('given a coded signup that matches no claim, when it starts a referral of its own, then every statement it sends uses an index', async () => {
    await expectIndexed((database) =>
      handleSignup(intakeOver(database), {
        eventId: 'plans-signup-new',
        customerId: 'unclaimed-newcomer',
        code: 'CODE0042',
        email: 'someone-else@example.com',
        phone: '+46700000000',
      }),
    );
  });

  it('given order events for a referred and an unknown customer, when they are taken in, then keeping and settling them uses indexes', async () => {
    const order = (eventId: string, customerId: string) => ({
      eventId,
      customerId,
      orderId: eventId,
      status: 'placed' as const,
      amount: 1000,
      currency: 'EUR',
      occurredAt: '2026-01-01T00:00:00Z',
    });
    await expectIndexed((database) => handleOrder(intakeOver(database), order('plans-order-1', 'cust-15')));
    await expectIndexed((database) => handleOrder(intakeOver(database), order('plans-order-2', 'nobody-yet')));
    await expectIndexed((database) => findInboxEvent(database, 'order', 'plans-order-1'));
    // an order for a referral that has ended goes on its timeline as a late fact
    const ended = await referralOf(9);
    await expectIndexed((database) =>
      appendLateFact(database, ended, {
        at: new Date('2026-01-02T00:00:00Z'),
        kind: 'late_fact',
        eventId: 'plans-order-3',
        detail: { fact: 'order' },
      }),
    );
  });

  it('given undelivered events, when the relay leases the next one due, then it takes it from the due index', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    await expectIndexed(
      (database) =>
        leaseNextUndeliveredEvent(database, {
          now,
          receivedBefore: new Date(now.getTime() - 30_000),
          leaseUntil: new Date(now.getTime() + 60_000),
        }),
      ['inbox_events_due_idx'],
    );
  });

  it('given orders of customers nobody referred, when the retention purges a batch, then it finds the oldest through their index', async () => {
    await expectIndexed(
      (database) =>
        createInboxActivities({ db: database }).purgeUnreferredOrders({
          receivedBefore: '2000-01-01T00:00:00Z',
          limit: 1_000,
        }),
      ['inbox_events_unreferred_orders_idx'],
    );
  });

  it('given 20,000 open referrals of a programme, when a move to new terms pages through them, then each page is read through an index in its order', async () => {
    const query = { programId: PROGRAM, toVersion: 2, selection: {}, after: null, limit: 100 };
    const first = await selectTermsMoveCandidates(db, query);
    expect(first.ids).toHaveLength(100);
    // one programme here: its open-referral index and the (created_at, id) one serve the page equally
    await expectIndexed((database) => selectTermsMoveCandidates(database, { ...query, after: first.after }));
    await expectIndexed((database) =>
      selectTermsMoveCandidates(database, { ...query, selection: { status: 'pending' }, after: first.after }),
    );
  });

  it('given claims made with idempotency keys, when a key is reserved, answered and repeated, then each is found by its key', async () => {
    await expectIndexed(async (database) => {
      await reserveClaimRequest(database, {
        idempotencyKey: 'plans-claim-key',
        payloadHash: 'hash',
        referralId: randomUUID(),
        response: null,
      });
      await recordClaimResponse(database, 'plans-claim-key', { ok: true });
      // the same key with another body: answered from claim_requests before anything else is read
      await expect(claimReferral(intakeOver(database), { code: 'CODE0001' }, 'claim-key-7')).rejects.toMatchObject({
        code: 'idempotency_conflict',
      });
    });
  });

  it('given a referral with its timeline, rewards and voucher, when it is read, then each part is found through an index', async () => {
    const referralId = await referralOf(5);
    await expectIndexed(
      async (database) => {
        await findReferral(database, referralId);
        await findTimeline(database, referralId);
        await readRewards(intakeOver(database), referralId);
      },
      ['point_lots_referral_idx'],
    );
    await expectIndexed((database) => findReferralsOfCustomer(database, 'cust-6', 20));
  });

  it('given a customer with lots, when points are credited, redeemed and listed, then lots are selected by customer and expiry', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    await expectIndexed(
      (database) =>
        redeemPoints(database, { customerId: 'cust-5', redemptionId: 'plans-redemption', points: 150, now }),
      ['point_lots_open_idx'],
    );
    await expectIndexed((database) =>
      creditLot(database, {
        customerId: 'cust-5',
        points: 10,
        creditedAt: now,
        expiresAt: new Date('2027-06-01T00:00:00Z'),
        source: { kind: 'milestone', referralId: randomUUID() },
        creditKey: 'plans-credit',
      }),
    );
    await expectIndexed((database) => findCustomerPoints(database, 'cust-5'));
    await expectIndexed((database) => findLedgerEntries(database, 'cust-5'));
  });

  it('given a customer’s vouchers, when they are listed, issued, used and voided, then each is found through an index', async () => {
    const referralId = await referralOf(7);
    const voucher = await findVoucherOfReferral(db, referralId);
    expect(voucher).toBeDefined();
    await expectIndexed(
      (database) => findVouchersOfCustomer(database, voucher!.customer_id),
      ['vouchers_customer_idx'],
    );
    await expectIndexed(async (database) => {
      await issueVoucher(database, {
        referralId,
        customerId: voucher!.customer_id,
        amount: 500,
        currency: 'EUR',
        issuedAt: new Date('2026-01-01T00:00:00Z'),
        expiresAt: new Date('2026-03-01T00:00:00Z'),
      });
      await redeemVoucher(database, {
        code: voucher!.code,
        redemptionKey: 'plans-checkout',
        orderId: 'plans-order',
        now: new Date('2025-12-20T00:00:00Z'),
      });
      await voidVoucherOfReferral(database, { referralId, reason: 'referral_expired', at: new Date() });
    });
  });
});

describe('query plans of the admin lists', () => {
  /**
   * One value for each filter, as selective as production's would be: a status a third of the referrals hold, one
   * referrer's ten, one referee, the programme they all belong to, five days of creations, a day of changes.
   */
  const FILTERS: Array<Partial<ReferralListQuery>> = [
    { status: 'registered' },
    { referrerId: 'cust-7' },
    { refereeId: 'cust-15' },
    { programId: PROGRAM },
    { createdFrom: '2025-12-05T00:00:00Z', createdTo: '2025-12-10T00:00:00Z' },
    { updatedFrom: '2026-02-01T00:00:00Z', updatedTo: '2026-02-02T00:00:00Z' },
  ];
  const cursor = encodeCursor({
    list: 'referrals',
    createdAt: '2025-12-08T00:00:00.000000Z',
    id: '80000000-0000-4000-8000-000000000000',
  });

  /** Every subset of FILTERS, each with flagged left out, true and false, without a cursor and after one. */
  const everyCombination = (): ReferralListQuery[] =>
    Array.from({ length: 2 ** FILTERS.length }, (_, mask) =>
      Object.assign({ limit: 50 }, ...FILTERS.filter((_, bit) => mask & (1 << bit))),
    ).flatMap((query: ReferralListQuery) =>
      [undefined, true, false].flatMap((flagged) =>
        [undefined, cursor].map((after) => ({ ...query, flagged, cursor: after })),
      ),
    );

  it('given 20,000 referrals, when the admin list is asked for with every combination of its filters, then none reads the referrals in full', async () => {
    const scans: string[] = [];
    for (const query of everyCombination()) {
      const explained = await explainWhat((database) => listReferrals(intakeOver(database), query));
      expect(explained).toHaveLength(1);
      scans.push(...fullScans(explained).map((scan) => `${JSON.stringify(query)} ${scan}`));
    }
    expect(scans).toEqual([]);
  });

  it('given 20,000 referrals, when the list is read unfiltered, flagged, by status, by referrer or by when referrals changed, then each is read through its index', async () => {
    await expectIndexed((database) => listReferrals(intakeOver(database), { limit: 50 }), ['referrals_created_idx']);
    await expectIndexed(
      (database) => listReferrals(intakeOver(database), { limit: 50, flagged: true, cursor }),
      ['referrals_flagged_idx'],
    );
    await expectIndexed(
      (database) => listReferrals(intakeOver(database), { limit: 50, status: 'under_review', cursor }),
      ['referrals_status_idx'],
    );
    await expectIndexed(
      (database) => listReferrals(intakeOver(database), { limit: 50, referrerId: 'cust-7', cursor }),
      ['referrals_referrer_idx'],
    );
    await expectIndexed(
      (database) =>
        listReferrals(intakeOver(database), {
          limit: 50,
          updatedFrom: '2026-02-01T00:00:00Z',
          updatedTo: '2026-02-01T06:00:00Z',
        }),
      ['referrals_updated_idx'],
    );
  });

  it('given 20,000 referrals, a hundred of them under review, when the review queue is paged, then it reads them in the order their reviews started through the review queue index', async () => {
    const first = await listReviewQueue(intakeOver(db), { limit: 20 });
    expect(first.items).toHaveLength(20);
    expect(first.items.every((item) => String(item.status) === 'under_review')).toBe(true);
    const started = (
      await db
        .selectFrom('referrals')
        .select(['id', 'review_started_at'])
        .where(
          'id',
          'in',
          first.items.map((item) => item.id),
        )
        .execute()
    ).reduce((byId, row) => byId.set(row.id, row.review_started_at!.getTime()), new Map<string, number>());
    const order = first.items.map((item) => started.get(item.id)!);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    const created = first.items.map((item) => item.createdAt);
    expect(created).not.toEqual([...created].sort());
    expect(first.nextCursor).toEqual(expect.any(String));
    await expectIndexed(
      (database) => listReviewQueue(intakeOver(database), { limit: 20 }),
      ['referrals_review_queue_idx'],
    );
    await expectIndexed(
      (database) => listReviewQueue(intakeOver(database), { limit: 20, cursor: first.nextCursor! }),
      ['referrals_review_queue_idx'],
    );
  });
});

describe('query plans of the fraud flags', () => {
  /**
   * Where 20,000 customers were seen from (an IP and a device each), and a device and an IP on every pending claim, so
   * the lookups by value have as many rows to pass over as production's would.
   */
  beforeAll(async () => {
    await sql`insert into customer_contexts (customer_id, kind, value, first_seen_at)
                select 'cust-' || i, kind, case kind when 'ip' then '10.' || (i / 256) || '.' || (i % 256) || '.1'
                                                 else 'device-' || i end,
                       timestamptz '2025-11-01' + i * interval '1 minute'
                  from generate_series(1, ${ROWS}::int) i cross join unnest(array['ip', 'device']) kind`.execute(db);
    await sql`update referrals set device_id = 'claim-device-' || substr(id::text, 1, 8),
                                   ip = '172.16.' || (abs(hashtext(id::text)) % 256) || '.' || (abs(hashtext(id::text || 'ip')) % 256)
               where status = 'pending'`.execute(db);
    await sql`analyze customer_contexts`.execute(db);
    await sql`analyze referrals`.execute(db);
  });

  const review = { velocityLimit: REVIEW_DEFAULTS.velocityLimit, velocityWindow: REVIEW_DEFAULTS.velocityWindow };
  const at = new Date('2025-12-02T00:00:00Z');

  it('given 20,000 customers’ contexts, when a referee’s IP is compared with the referrer’s, then their contexts are read by key and their own referral by its referee', async () => {
    const explained = await explainWhat((database) =>
      computeFraudFlags(database, { referrerId: 'cust-7', referee: { ip: '10.0.0.7.1' }, at, review }),
    );
    expect(fullScans(explained)).toEqual([]);
    const used = indexesUsed(explained);
    expect(used).toContain('referrals_referee_id_key');
    // (customer, 'ip', value) is a whole key of either index, and the planner takes whichever it prices lower
    expect(used).toEqual(expect.arrayContaining([expect.stringMatching(/^customer_contexts_(pk|value_idx)$/)]));
  });

  it('given 20,000 customers’ devices and 8,000 claims’ devices, when a referee’s device is looked for elsewhere, then both are found through their value indexes', async () => {
    await expectIndexed(
      (database) =>
        computeFraudFlags(database, {
          referrerId: 'cust-7',
          referralId: randomUUID(),
          referee: { customerId: 'cust-15', deviceId: 'device-15' },
          at,
          review,
        }),
      ['referrals_device_idx', 'customer_contexts_value_idx'],
    );
  });

  it('given 20,000 customers, when a referee’s e-mail is compared with the referrer’s, then both customers are read by key', async () => {
    await expectIndexed(
      (database) =>
        computeFraudFlags(database, {
          referrerId: 'cust-7',
          referee: { customerId: 'cust-15', email: 'cust7+again@example.com' },
          at,
          review,
        }),
      ['customers_pkey'],
    );
  });

  it('given 20,000 referrals, when a referrer’s pace is counted, then their recent referrals are read from the referrer index and the judged one by key', async () => {
    const referralId = await referralOf(6);
    await expectIndexed(
      (database) => computeFraudFlags(database, { referrerId: 'cust-7', referralId, at, review }),
      ['referrals_referrer_idx', 'referrals_pkey'],
    );
  });

  it('given 20,000 customers’ contexts, when a referrer’s context is recorded again, then the insert reads no table in full', async () => {
    await expectIndexed((database) =>
      recordCustomerContext(database, 'cust-7', { ip: '10.0.0.7.1', deviceId: 'device-7' }, at),
    );
  });
});

describe('query plans of the admin actions and their audit', () => {
  /**
   * An audit log as a busy team leaves it: 20,000 entries by 40 admins over the seeded referrals, a few to each, and a
   * request kept for each; then the filters of GET /v1/admin/audit, each as selective as production's would be.
   */
  beforeAll(async () => {
    await sql`insert into admin_audit (at, actor, action, referral_id, request_id, reason, before, after)
                select timestamptz '2025-12-01' + i * interval '1 minute', 'admin-' || (i % 40),
                       (array['approve','reject','cancel','extend'])[i % 4 + 1], md5('referral' || (i % 5000 + 1))::uuid,
                       'request-' || i, null, '{}', '{}'
                  from generate_series(1, ${ROWS}::int) i`.execute(db);
    await sql`insert into admin_requests (request_id, action, referral_id, body_hash, response)
                select 'request-' || i, (array['approve','reject','cancel','extend'])[i % 4 + 1],
                       md5('referral' || (i % 5000 + 1))::uuid, md5(i::text), '{}'
                  from generate_series(1, ${ROWS}::int) i`.execute(db);
    await sql`analyze admin_audit`.execute(db);
    await sql`analyze admin_requests`.execute(db);
  });

  const cursor = encodeCursor({ list: 'audit', at: '2025-12-08T00:00:00.000000Z', id: '10000' });

  it('given 20,000 audit entries, when the list is asked for with every combination of its filters, with and without a cursor, then none reads the log in full', async () => {
    const filters: Array<Partial<AdminAuditQuery>> = [
      { referralId: await referralOf(7) },
      { actor: 'admin-7' },
      { from: '2025-12-05T00:00:00Z' },
      { to: '2025-12-10T00:00:00Z' },
    ];
    const scans: string[] = [];
    for (let mask = 0; mask < 2 ** filters.length; mask++) {
      for (const after of [undefined, cursor]) {
        const query: AdminAuditQuery = Object.assign(
          { limit: 50, cursor: after },
          ...filters.filter((_, bit) => mask & (1 << bit)),
        );
        const explained = await explainWhat((database) => listAdminAudit(intakeOver(database), query));
        expect(explained).toHaveLength(1);
        scans.push(...fullScans(explained).map((scan) => `${JSON.stringify(query)} ${scan}`));
      }
    }
    expect(scans).toEqual([]);
  });

  it('given 20,000 audit entries, when the list is read unfiltered, by referral, by actor or by time, then each is read through its index in page order', async () => {
    const referralId = await referralOf(7);
    for (const after of [undefined, cursor]) {
      await expectIndexed(
        (database) => listAdminAudit(intakeOver(database), { limit: 50, cursor: after }),
        ['admin_audit_at_idx'],
      );
      await expectIndexed(
        (database) => listAdminAudit(intakeOver(database), { limit: 50, referralId, cursor: after }),
        ['admin_audit_referral_idx'],
      );
      await expectIndexed(
        (database) => listAdminAudit(intakeOver(database), { limit: 50, actor: 'admin-7', cursor: after }),
        ['admin_audit_actor_idx'],
      );
      await expectIndexed(
        (database) =>
          listAdminAudit(intakeOver(database), {
            limit: 50,
            from: '2025-12-05T00:00:00Z',
            to: '2025-12-05T06:00:00Z',
            cursor: after,
          }),
        ['admin_audit_at_idx'],
      );
    }
    // the page itself: newest first, as the index gives them
    const page = await findAdminAuditPage(db, { filter: { actor: 'admin-7' }, limit: 5 });
    expect(page.map((row) => row.at.getTime())).toEqual(page.map((row) => row.at.getTime()).sort((a, b) => b - a));
  });

  it('given 20,000 admin requests, when an action is applied, repeated and its requestId reused for another, then each statement finds its rows by key', async () => {
    const referralId = await referralOf(8);
    const request = { action: 'extend' as const, referralId, requestId: 'plans-extend', actor: 'ops', by: '1 day' };
    await expectIndexed((database) => performAdminAction(intakeOver(database), request), ['admin_requests_pkey']);
    await expectIndexed((database) => performAdminAction(intakeOver(database), request), ['admin_requests_pkey']);
    await expectIndexed(
      async (database) => {
        await expect(performAdminAction(intakeOver(database), { ...request, by: '2 days' })).rejects.toMatchObject({
          code: 'idempotency_conflict',
        });
      },
      ['admin_requests_pkey'],
    );
    // whether a referral's workflow applied a request before it ended
    await expectIndexed(
      (database) => findAuditOfRequest(database, { referralId, action: 'cancel', requestId: 'request-3' }),
      ['admin_audit_request_uq'],
    );
  });
});

describe("query plans of a customer's referrals", () => {
  /** Each seeded completed referral counted for its referrer, in the order they were created: a few per referrer. */
  beforeAll(async () => {
    await sql`insert into referrer_completions (referral_id, referrer_id, ordinal, completed_at)
                select id, referrer_id, row_number() over (partition by referrer_id order by created_at, id),
                       created_at + interval '10 days'
                  from referrals where status = 'completed'`.execute(db);
    await sql`analyze referrer_completions`.execute(db);
  });

  it("given 20,000 referrals and their referrers' completions, when a customer's referrals are read, then the counts come from the referrer indexes, the programme from the customer's codes, the page from the referrer index", async () => {
    await expectIndexed((database) => countReferralsOfReferrer(database, 'cust-8'), ['referrals_referrer_idx']);
    await expectIndexed(
      (database) => countReferrerCompletions(database, 'cust-8'),
      ['referrer_completions_ordinal_uq'],
    );
    await expectIndexed(
      (database) => findReferrerProgramTerms(database, 'cust-8'),
      ['referral_codes_customer_program_uq'],
    );
    // cust-8's ten seeded referrals and its one flagged all completed
    const first = await readCustomerReferrals(intakeOver(db), { customerId: 'cust-8', limit: 4 });
    expect(first).toMatchObject({
      stats: { sent: 11, completed: 11 },
      tier: { name: 'PRO', completed: 11 },
      nextCursor: expect.any(String),
    });
    for (const cursor of [undefined, first.nextCursor!]) {
      await expectIndexed(
        (database) => readCustomerReferrals(intakeOver(database), { customerId: 'cust-8', limit: 4, cursor }),
        [
          'customers_pkey',
          'referral_codes_customer_program_uq',
          'referrer_completions_ordinal_uq',
          'referrals_referrer_idx',
        ],
      );
    }
  });
});
