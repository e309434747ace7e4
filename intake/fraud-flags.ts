import { isIP } from 'node:net';
import type { DB } from '../db/connection';
import { normaliseEmail, normalisePhone } from '../db/contact';
import {
  countRecentReferrals,
  customerUsedIp,
  deviceSeenElsewhere,
  findCustomerEmails,
  insertCustomerContexts,
} from '../db/customer-contexts';
import type { CustomerContextKind } from '../db/schema';
import { requireDurationMs } from '../workflows/durations';

/**
 * The fraud signals of DESIGN §4 and §5.3, computed from what the commerce backend sends with a claim or a signup and
 * what the database already knows. A flag is a signal for an admin, never a refusal: the referral's terms decide how
 * many of them hold it for review.
 */

/** Every flag, in the order a referral lists them. */
export const FRAUD_FLAGS = ['DEVICE_REUSE', 'EMAIL_ALIAS', 'HIGH_VELOCITY', 'SAME_IP'] as const;
export type FraudFlag = (typeof FRAUD_FLAGS)[number];

/** Where a request came from, as the commerce backend reports it. */
export interface RequestContext {
  ip?: string | undefined;
  deviceId?: string | undefined;
}

export interface FraudCheck {
  referrerId: string;
  /** the referral being judged, once it has an id: its own claim is not "another referral" */
  referralId?: string | undefined;
  /**
   * the code a claim presents: with the invitee's e-mail or phone it names the claim, so the same claim sent again
   * (a second referral with the same code and invitee) is not "another referral" either
   */
  code?: string | undefined;
  /** what is known of the referee: a claim's invitee and context, or a signup's customer, contact and context */
  referee?:
    | {
        customerId?: string | undefined;
        email?: string | undefined;
        /** taken for completeness; phones have no aliases, and the same phone is already a self-referral */
        phone?: string | undefined;
        ip?: string | undefined;
        deviceId?: string | undefined;
      }
    | undefined;
  /** when the claim or signup happened: the velocity window ends here */
  at: Date;
  review: { velocityLimit: number; velocityWindow: string };
}

/** Providers that deliver `a.n.n.a@` to `anna@`, under the one name they share. */
const DOTLESS_PROVIDERS: Readonly<Record<string, string>> = { 'gmail.com': 'gmail.com', 'googlemail.com': 'gmail.com' };

/**
 * The mailbox an address is delivered to: normalised as stored (trimmed, lower case), the `+tag` dropped, and for
 * Gmail the dots of the local part and the googlemail.com spelling too. Elsewhere dots are part of the name:
 * `a.nna@shop.com` is another mailbox than `anna@shop.com`.
 */
export function canonicalEmail(email: string | null | undefined): string | null {
  const normalised = normaliseEmail(email);
  if (!normalised) return null;
  const at = normalised.lastIndexOf('@');
  if (at <= 0) return normalised;
  let local = normalised.slice(0, at);
  let domain = normalised.slice(at + 1);
  const plus = local.indexOf('+');
  // `+tag@` with nothing before the plus has no base mailbox to be an alias of
  if (plus > 0) local = local.slice(0, plus);
  const provider = DOTLESS_PROVIDERS[domain];
  if (provider) {
    domain = provider;
    local = local.replaceAll('.', '');
  }
  return `${local}@${domain}`;
}

/** A context value worth comparing: blank ones say nothing and would match every other blank one. */
const present = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/**
 * One spelling per address, so a flag cannot be dodged by writing it another way: trimmed, lower-case, an IPv4-mapped
 * IPv6 address as its IPv4, an IPv6 address compressed (WHATWG URL's serialisation). Anything else is kept trimmed.
 */
export function canonicalIp(raw: string): string {
  const value = raw.trim().toLowerCase();
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(value);
  if (mapped && isIP(mapped[1]!) === 4) return mapped[1]!;
  if (isIP(value) !== 6) return value;
  const host = new URL(`http://[${value}]`).hostname.slice(1, -1);
  const v4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!v4) return host;
  const [hi, lo] = [parseInt(v4[1]!, 16), parseInt(v4[2]!, 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/**
 * Keeps the IP and device a customer's own request came with (the referrer asking for a code), so later referees can
 * be compared with them. Repeats change nothing; blank values are not kept.
 */
export async function recordCustomerContext(
  db: DB,
  customerId: string,
  context: RequestContext | undefined,
  at: Date,
): Promise<void> {
  const contexts: Array<{ kind: CustomerContextKind; value: string }> = [];
  if (present(context?.ip)) contexts.push({ kind: 'ip', value: context.ip });
  if (present(context?.deviceId)) contexts.push({ kind: 'device', value: context.deviceId });
  await insertCustomerContexts(db, customerId, contexts, at);
}

/**
 * The flags a referral earns from these facts, sorted, each once. A rule whose fact is missing (no IP, no device, no
 * e-mail) raises nothing.
 *
 * - SAME_IP: the referee's IP is one the referrer used: sent with a request of the referrer's own (a code request,
 *   or whatever else records the referrer's context), or on the claim of the referral that brought the referrer in.
 * - DEVICE_REUSE: the referee's device came with another referral's claim, or with another customer's request
 *   (the referrer's included). A claim of the same code for the same invitee is the same claim sent twice, not
 *   another referral's: a double submit does not flag itself, at the claim or at its signup.
 * - EMAIL_ALIAS: the referee's e-mail reaches the referrer's mailbox under another spelling (`+tag`, Gmail's dots,
 *   googlemail.com). The same address is a self-referral, refused before flags matter, so it is not an alias.
 * - HIGH_VELOCITY: this referral makes more than `velocityLimit` of the referrer's referrals created within
 *   `velocityWindow` up to `at`. This referral counts as one of them: as its own row when it was counted already (in
 *   the projection, or early: countReferralEarly), so only if it was created in the window; as created at `at`
 *   otherwise.
 */
export async function computeFraudFlags(db: DB, check: FraudCheck): Promise<FraudFlag[]> {
  const { referrerId, referralId, referee, at, review } = check;
  // Judged against nobody, SAME_IP, EMAIL_ALIAS and HIGH_VELOCITY could never be found: a flagged referee would pass.
  if (referrerId.trim() === '') throw new Error('fraud flags are judged against the referrer, and none was given');
  const claim =
    check.code === undefined
      ? undefined
      : { code: check.code, email: normaliseEmail(referee?.email), phone: normalisePhone(referee?.phone) };
  const flags = await Promise.all([
    present(referee?.ip) && customerUsedIp(db, referrerId, referee.ip).then((used) => used && ('SAME_IP' as const)),
    present(referee?.deviceId) &&
      deviceSeenElsewhere(db, referee.deviceId, { referralId, customerId: referee.customerId, claim }).then(
        (seen) => seen && ('DEVICE_REUSE' as const),
      ),
    isEmailAlias(db, referrerId, referee).then((alias) => alias && ('EMAIL_ALIAS' as const)),
    isHighVelocity(db, { referrerId, referralId, at, ...review }).then((high) => high && ('HIGH_VELOCITY' as const)),
  ]);
  return FRAUD_FLAGS.filter((flag) => flags.includes(flag));
}

async function isEmailAlias(db: DB, referrerId: string, referee: FraudCheck['referee']): Promise<boolean> {
  if (!present(referee?.email) && referee?.customerId === undefined) return false;
  // A signup may name the referee without repeating the e-mail the customer was stored with.
  const stored = await findCustomerEmails(
    db,
    referee?.customerId === undefined ? [referrerId] : [referrerId, referee.customerId],
  );
  const referrerEmail = stored.get(referrerId);
  const refereeEmail = normaliseEmail(referee?.email) ?? stored.get(referee?.customerId ?? '') ?? null;
  if (!referrerEmail || !refereeEmail || refereeEmail === referrerEmail) return false;
  return canonicalEmail(refereeEmail) === canonicalEmail(referrerEmail);
}

async function isHighVelocity(
  db: DB,
  check: {
    referrerId: string;
    referralId?: string | undefined;
    at: Date;
    velocityLimit: number;
    velocityWindow: string;
  },
): Promise<boolean> {
  const from = new Date(check.at.getTime() - requireDurationMs(check.velocityWindow));
  const { recent, counted } = await countRecentReferrals(db, {
    referrerId: check.referrerId,
    from,
    to: check.at,
    atMost: check.velocityLimit + 1,
    referralId: check.referralId,
  });
  return recent + (counted ? 0 : 1) > check.velocityLimit;
}
