import { sql, type Transaction } from 'kysely';
import type { DB } from './connection';
import type { CustomerContextKind, Database } from './schema';

/** Keeps where a customer was seen from. A value seen before keeps its first sighting, so a retry writes nothing. */
export async function insertCustomerContexts(
  db: DB,
  customerId: string,
  contexts: ReadonlyArray<{ kind: CustomerContextKind; value: string }>,
  at: Date,
): Promise<void> {
  if (contexts.length === 0) return;
  await db
    .insertInto('customer_contexts')
    .values(contexts.map(({ kind, value }) => ({ customer_id: customerId, kind, value, first_seen_at: at })))
    .onConflict((oc) => oc.columns(['customer_id', 'kind', 'value']).doNothing())
    .execute();
}

/**
 * Whether the customer used this IP: with a request of their own (customer_contexts), or on the claim of the referral
 * that brought them in, which the projection keeps on that referral's row.
 */
export async function customerUsedIp(db: DB, customerId: string, ip: string): Promise<boolean> {
  const { used } = await db
    .selectNoFrom((eb) =>
      eb
        .or([
          eb.exists(
            eb
              .selectFrom('customer_contexts')
              .select(sql.lit(1).as('one'))
              .where('customer_id', '=', customerId)
              .where('kind', '=', 'ip')
              .where('value', '=', ip),
          ),
          eb.exists(
            eb
              .selectFrom('referrals')
              .select(sql.lit(1).as('one'))
              .where('referee_id', '=', customerId)
              .where('ip', '=', ip),
          ),
        ])
        .as('used'),
    )
    .executeTakeFirstOrThrow();
  return Boolean(used);
}

/** Who a claim was for: its code and its invitee's contact details, normalised as the projection keeps them. */
export interface ClaimIdentity {
  code: string;
  email: string | null;
  phone: string | null;
}

/**
 * Whether a device id came with any referral but `referralId` (as claimed, or as the referral of `customerId`), or
 * with a request of any customer but `customerId`. A claim of the same code for the same invitee (by e-mail or phone)
 * is the same claim sent again (a double submit, a retry without an Idempotency-Key), not another referral: `claim`
 * names the one being judged, and a judged referral already in the projection is compared by its own row.
 */
export async function deviceSeenElsewhere(
  db: DB,
  deviceId: string,
  apart: { referralId?: string | undefined; customerId?: string | undefined; claim?: ClaimIdentity | undefined },
): Promise<boolean> {
  const { referralId, customerId, claim } = apart;
  const { seen } = await db
    .selectNoFrom((eb) =>
      eb
        .or([
          eb.exists(
            eb
              .selectFrom('referrals as other')
              .select(sql.lit(1).as('one'))
              .where('other.device_id', '=', deviceId)
              .$if(referralId !== undefined, (q) => q.where('other.id', '<>', referralId!))
              .$if(customerId !== undefined, (q) => q.where('other.referee_id', 'is distinct from', customerId!))
              .$if(claim !== undefined && (claim.email !== null || claim.phone !== null), (q) =>
                q.where((other) =>
                  other.not(
                    other.and([
                      other('other.code', '=', claim!.code),
                      other.or([
                        ...(claim!.email === null ? [] : [other('other.invitee_email', '=', claim!.email)]),
                        ...(claim!.phone === null ? [] : [other('other.invitee_phone', '=', claim!.phone)]),
                      ]),
                    ]),
                  ),
                ),
              )
              .$if(referralId !== undefined, (q) =>
                q.where((other) =>
                  other.not(
                    other.exists(
                      other
                        .selectFrom('referrals as own')
                        .select(sql.lit(1).as('one'))
                        .where('own.id', '=', referralId!)
                        .whereRef('own.code', '=', 'other.code')
                        .where((own) =>
                          own.or([
                            own('own.invitee_email', '=', own.ref('other.invitee_email')),
                            own('own.invitee_phone', '=', own.ref('other.invitee_phone')),
                          ]),
                        ),
                    ),
                  ),
                ),
              ),
          ),
          eb.exists(
            eb
              .selectFrom('customer_contexts')
              .select(sql.lit(1).as('one'))
              .where('kind', '=', 'device')
              .where('value', '=', deviceId)
              .$if(customerId !== undefined, (q) => q.where('customer_id', '<>', customerId!)),
          ),
        ])
        .as('seen'),
    )
    .executeTakeFirstOrThrow();
  return Boolean(seen);
}

/**
 * The referrer's referrals created in (from, to], counted up to `atMost` (enough to decide a limit, however many a
 * busy referrer has): those in the projection and those counted before their workflow wrote them there
 * (countReferralEarly), each once (UNION ALL with the projected ones left out of the early ones, so the LIMIT stops
 * the index scans early); and whether `referralId` is already one of either.
 */
export async function countRecentReferrals(
  db: DB,
  query: { referrerId: string; from: Date; to: Date; atMost: number; referralId?: string | undefined },
): Promise<{ recent: number; counted: boolean }> {
  const { referrerId, from, to, atMost, referralId } = query;
  const { rows } = await sql<{ recent: string; counted: boolean }>`
    select
      (select count(*) from (
         select id from referrals
          where referrer_id = ${referrerId} and created_at > ${from} and created_at <= ${to}
         union all
         select early.referral_id from referrals_counted_early early
          where early.referrer_id = ${referrerId} and early.created_at > ${from} and early.created_at <= ${to}
            and not exists (select 1 from referrals r where r.id = early.referral_id)
         limit ${atMost}) recent) as recent,
      ${
        referralId === undefined
          ? sql`false`
          : sql`exists (select 1 from referrals where id = ${referralId})
                  or exists (select 1 from referrals_counted_early where referral_id = ${referralId})`
      } as counted`.execute(db);
  return { recent: Number(rows[0]!.recent), counted: Boolean(rows[0]!.counted) };
}

/**
 * Counts a referral toward its referrer's pace before its workflow is started, in the transaction that judged it
 * under the referrer's velocity lock: the next claim or signup of the referrer sees it whether or not the workflow has
 * written it yet. Nothing is written for a referral the projection already holds, or counted already.
 */
export async function countReferralEarly(
  trx: Transaction<Database>,
  referral: { referralId: string; referrerId: string; createdAt: Date },
): Promise<void> {
  await sql`
    insert into referrals_counted_early (referral_id, referrer_id, created_at)
    select ${referral.referralId}::uuid, ${referral.referrerId}, ${referral.createdAt}
     where not exists (select 1 from referrals where id = ${referral.referralId}::uuid)
    on conflict (referral_id) do nothing`.execute(trx);
}

/** A referral counted early that will never be made (its signup was refused): it no longer counts. */
export async function uncountReferral(db: DB, referralId: string): Promise<void> {
  await db.deleteFrom('referrals_counted_early').where('referral_id', '=', referralId).execute();
}

/** The stored (normalised) e-mails of these customers, by id; a customer without one is left out. */
export async function findCustomerEmails(db: DB, customerIds: string[]): Promise<Map<string, string>> {
  if (customerIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('customers')
    .select(['id', 'email_normalized'])
    .where('id', 'in', customerIds)
    .where('email_normalized', 'is not', null)
    .execute();
  return new Map(rows.map((row) => [row.id, row.email_normalized!]));
}

/**
 * Runs `work` while holding the referrer's velocity lock (a transaction-scoped advisory lock, passed in as `trx`), so
 * the referrals one referrer's claims and signups by code make are counted one after another, each seeing the ones
 * before it (the work counts its own with countReferralEarly). The lock is tried, not waited on: a burst of one
 * referrer's claims sleeps between tries instead of holding every pooled connection while it waits.
 */
export async function withReferrerVelocityLock<T>(
  db: DB,
  referrerId: string,
  work: (trx: Transaction<Database>) => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<T> {
  const giveUpAt = Date.now() + (options.waitMs ?? 15_000);
  for (let attempt = 0; ; attempt++) {
    const outcome = await db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ locked: boolean }>`
        select pg_try_advisory_xact_lock(hashtextextended(${`referrer-velocity:${referrerId}`}, 0)) as locked`.execute(
        trx,
      );
      return rows[0]?.locked ? { value: await work(trx) } : undefined;
    });
    if (outcome) return outcome.value;
    if (Date.now() >= giveUpAt) throw new Error(`referrer ${referrerId}'s claims stayed locked`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** Math.min(attempt, 5)) * Math.random()));
  }
}
