import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DB } from '../../db/connection';
import { upsertCustomer } from '../../db/customers';
import { countReferralEarly, uncountReferral } from '../../db/customer-contexts';
import { createProgram } from '../../db/programs';
import {
  canonicalEmail,
  canonicalIp,
  computeFraudFlags,
  recordCustomerContext,
  type FraudCheck,
  type FraudFlag,
} from '../../intake/fraud-flags';
import { DEFAULT_REFERRAL_TERMS, REVIEW_DEFAULTS } from '../../workflows/shared';
import { createTestDatabase } from '../support/database';
import { insertReferralRow } from '../support/projection-rows';

let db: DB;
let drop: () => Promise<void>;
const PROGRAM = 'program-flags';
const AT = new Date('2026-03-10T12:00:00Z');
const review = { velocityLimit: REVIEW_DEFAULTS.velocityLimit, velocityWindow: REVIEW_DEFAULTS.velocityWindow };

beforeAll(async () => {
  ({ db, drop } = await createTestDatabase());
  await createProgram(db, { id: PROGRAM, name: 'Flags', currency: 'INR', terms: DEFAULT_REFERRAL_TERMS });
});
afterAll(() => drop());

/** A customer id no other test uses, so each test's referrer starts with no history. */
const customer = (name: string) => `${name}-${randomUUID()}`;

const flagsFor = (check: Omit<FraudCheck, 'at' | 'review'> & Partial<FraudCheck>): Promise<FraudFlag[]> =>
  computeFraudFlags(db, { at: AT, review, ...check });

/** `count` referrals of the referrer, created `ago` before AT (spread over a minute so none share an instant). */
async function referralsOf(referrerId: string, count: number, ago: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const row = await insertReferralRow(db, {
      program_id: PROGRAM,
      referrer_id: referrerId,
      status: 'pending',
      registered_at: null,
      created_at: new Date(AT.getTime() - ago + i * 1000),
    });
    ids.push(row.id);
  }
  return ids;
}

const HOUR = 60 * 60 * 1000;

describe('canonicalEmail', () => {
  it('when an address has a +tag, then the tag is dropped, on any provider', () => {
    expect(canonicalEmail('anna+shop@shop.com')).toBe('anna@shop.com');
    expect(canonicalEmail('anna+a+b@gmail.com')).toBe('anna@gmail.com');
  });

  it('when a Gmail address has dots, then they are dropped; googlemail.com is gmail.com', () => {
    expect(canonicalEmail('a.n.n.a@gmail.com')).toBe('anna@gmail.com');
    expect(canonicalEmail('an.na+promo@googlemail.com')).toBe('anna@gmail.com');
  });

  it('when another provider’s address has dots, then they stay: a.nna@ and anna@ are two mailboxes', () => {
    expect(canonicalEmail('a.nna@shop.com')).toBe('a.nna@shop.com');
    expect(canonicalEmail('a.nna@shop.com')).not.toBe(canonicalEmail('anna@shop.com'));
  });

  it('when an address differs in case or surrounding spaces, then it is the same mailbox; blank is none', () => {
    expect(canonicalEmail('  Anna+X@Shop.COM ')).toBe('anna@shop.com');
    expect(canonicalEmail('A.N.N.A@GMAIL.COM')).toBe('anna@gmail.com');
    expect(canonicalEmail('   ')).toBeNull();
    expect(canonicalEmail(undefined)).toBeNull();
  });
});

describe('canonicalIp', () => {
  it('given one address written several ways, then each has one spelling', () => {
    expect(canonicalIp(' 203.0.113.7 ')).toBe('203.0.113.7');
    expect(canonicalIp('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(canonicalIp('::FFFF:cb00:7107')).toBe('203.0.113.7');
    expect(canonicalIp('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(canonicalIp('2001:DB8::1')).toBe('2001:db8::1');
    expect(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(canonicalIp('not an address')).toBe('not an address');
  });
});

describe('EMAIL_ALIAS', () => {
  const aliasOf = async (referrerEmail: string, refereeEmail: string) => {
    const referrerId = customer('anna');
    await upsertCustomer(db, { id: referrerId, email: referrerEmail });
    return flagsFor({ referrerId, referee: { email: refereeEmail } });
  };

  it('given a referrer anna@shop.com, when the referee is anna+promo@shop.com, then EMAIL_ALIAS', async () => {
    expect(await aliasOf('anna@shop.com', 'anna+promo@shop.com')).toEqual(['EMAIL_ALIAS']);
  });

  it('given a referrer with a +tag address, when the referee uses the bare address in capitals, then EMAIL_ALIAS', async () => {
    expect(await aliasOf('Anna+Refer@Shop.com', 'ANNA@SHOP.COM')).toEqual(['EMAIL_ALIAS']);
  });

  it('given a Gmail referrer, when the referee moves the dots, then EMAIL_ALIAS', async () => {
    expect(await aliasOf('anna.k@gmail.com', 'a.nnak@gmail.com')).toEqual(['EMAIL_ALIAS']);
  });

  it('given a Gmail referrer, when the referee writes googlemail.com, then EMAIL_ALIAS', async () => {
    expect(await aliasOf('anna.k@gmail.com', 'annak@googlemail.com')).toEqual(['EMAIL_ALIAS']);
  });

  it('given a referrer on another provider, when the referee moves the dots there, then no flag: that is another mailbox', async () => {
    expect(await aliasOf('anna.k@shop.com', 'a.nnak@shop.com')).toEqual([]);
  });

  it('given a referrer, when the referee has the same address in another case, then no flag: that is a self-referral, refused elsewhere', async () => {
    expect(await aliasOf('anna@shop.com', ' Anna@Shop.com')).toEqual([]);
  });

  it('given a referrer, when the referee is someone else, then no flag', async () => {
    expect(await aliasOf('anna@shop.com', 'ben+anna@shop.com')).toEqual([]);
  });

  it('given a referee known by customer id only, when their stored e-mail is an alias of the referrer’s, then EMAIL_ALIAS', async () => {
    const referrerId = customer('anna');
    const refereeId = customer('ben');
    await upsertCustomer(db, { id: referrerId, email: 'anna@gmail.com' });
    await upsertCustomer(db, { id: refereeId, email: 'a.nna+2@gmail.com' });
    expect(await flagsFor({ referrerId, referee: { customerId: refereeId } })).toEqual(['EMAIL_ALIAS']);
  });

  it('given a referrer with no e-mail on record, when the referee sends one, then no flag', async () => {
    const referrerId = customer('anna');
    await upsertCustomer(db, { id: referrerId, phone: '+919876543210' });
    expect(await flagsFor({ referrerId, referee: { email: 'anna+1@shop.com' } })).toEqual([]);
  });
});

describe('SAME_IP', () => {
  it('given a referrer who asked for a code from an IP, when the referee comes from it, then SAME_IP; from another, no flag', async () => {
    const referrerId = customer('anna');
    await recordCustomerContext(db, referrerId, { ip: '203.0.113.7' }, AT);
    expect(await flagsFor({ referrerId, referee: { ip: '203.0.113.7' } })).toEqual(['SAME_IP']);
    expect(await flagsFor({ referrerId, referee: { ip: '198.51.100.2' } })).toEqual([]);
  });

  it('given a referrer who was referred themselves, when the referee comes from the IP of the referrer’s own claim, then SAME_IP', async () => {
    const referrerId = customer('anna');
    await insertReferralRow(db, {
      program_id: PROGRAM,
      referrer_id: customer('zoe'),
      referee_id: referrerId,
      ip: '192.0.2.4',
    });
    expect(await flagsFor({ referrerId, referee: { ip: '192.0.2.4' } })).toEqual(['SAME_IP']);
  });

  it('given an IP another customer used, when a referee of this referrer comes from it, then no SAME_IP', async () => {
    const referrerId = customer('anna');
    const other = customer('carl');
    await recordCustomerContext(db, other, { ip: '192.0.2.99' }, AT);
    await insertReferralRow(db, { program_id: PROGRAM, referrer_id: referrerId, ip: '192.0.2.99' });
    expect(await flagsFor({ referrerId, referee: { ip: '192.0.2.99' } })).toEqual([]);
  });

  it('given a referrer whose request came with a blank IP, when a referee sends a blank IP, then nothing was kept and no flag', async () => {
    const referrerId = customer('anna');
    await recordCustomerContext(db, referrerId, { ip: ' ', deviceId: '' }, AT);
    expect(await db.selectFrom('customer_contexts').where('customer_id', '=', referrerId).execute()).toEqual([]);
    expect(await flagsFor({ referrerId, referee: { ip: ' ', deviceId: '' } })).toEqual([]);
  });
});

describe('DEVICE_REUSE', () => {
  it('given a device that came with another referral’s claim, when a referee brings it, then DEVICE_REUSE', async () => {
    const device = `device-${randomUUID()}`;
    await insertReferralRow(db, { program_id: PROGRAM, referrer_id: customer('zoe'), device_id: device });
    expect(await flagsFor({ referrerId: customer('anna'), referee: { deviceId: device } })).toEqual(['DEVICE_REUSE']);
  });

  it('given a device that came only with this referral’s own claim, when its referee signs up on it, then no flag', async () => {
    const device = `device-${randomUUID()}`;
    const referrerId = customer('anna');
    const claimed = await insertReferralRow(db, { program_id: PROGRAM, referrer_id: referrerId, device_id: device });
    expect(
      await flagsFor({
        referrerId,
        referralId: claimed.id,
        referee: { customerId: customer('ben'), deviceId: device },
      }),
    ).toEqual([]);
  });

  it('given a device the referrer asked for a code from, when the referee brings it, then DEVICE_REUSE', async () => {
    const device = `device-${randomUUID()}`;
    const referrerId = customer('anna');
    await recordCustomerContext(db, referrerId, { deviceId: device }, AT);
    expect(await flagsFor({ referrerId, referee: { deviceId: device } })).toEqual(['DEVICE_REUSE']);
  });

  it('given a device only the referee used before, on their own requests and their own referral, when they sign up on it, then no flag', async () => {
    const device = `device-${randomUUID()}`;
    const refereeId = customer('ben');
    await recordCustomerContext(db, refereeId, { deviceId: device }, AT);
    await insertReferralRow(db, {
      program_id: PROGRAM,
      referrer_id: customer('zoe'),
      referee_id: refereeId,
      device_id: device,
    });
    expect(
      await flagsFor({ referrerId: customer('anna'), referee: { customerId: refereeId, deviceId: device } }),
    ).toEqual([]);
  });

  it('given a device nobody used, when a referee brings it, then no flag', async () => {
    expect(await flagsFor({ referrerId: customer('anna'), referee: { deviceId: `device-${randomUUID()}` } })).toEqual(
      [],
    );
  });
});

describe('HIGH_VELOCITY', () => {
  const limit = REVIEW_DEFAULTS.velocityLimit;

  it(`given ${limit - 1} referrals by the referrer in the last 24 hours, when one more is claimed, then exactly ${limit} is not HIGH_VELOCITY`, async () => {
    const referrerId = customer('anna');
    await referralsOf(referrerId, limit - 1, 2 * HOUR);
    // someone else's referrals are not the referrer's pace
    await referralsOf(customer('zoe'), 5, HOUR);
    expect(await flagsFor({ referrerId })).toEqual([]);
  });

  it(`given ${limit} referrals by the referrer in the last 24 hours, when one more is claimed, then ${limit + 1} is HIGH_VELOCITY`, async () => {
    const referrerId = customer('anna');
    await referralsOf(referrerId, limit, 2 * HOUR);
    expect(await flagsFor({ referrerId })).toEqual(['HIGH_VELOCITY']);
  });

  it(`given the referral already in the projection, when it is judged again, then it counts once: ${limit} in all is not flagged, ${limit + 1} is`, async () => {
    const referrerId = customer('anna');
    const [judged] = await referralsOf(referrerId, limit, HOUR);
    expect(await flagsFor({ referrerId, referralId: judged })).toEqual([]);
    await referralsOf(referrerId, 1, HOUR / 2);
    expect(await flagsFor({ referrerId, referralId: judged })).toEqual(['HIGH_VELOCITY']);
  });

  it(`given ${limit - 1} projected referrals and one counted early whose workflow has not written it yet, when one more is judged, then it is HIGH_VELOCITY; the early one judged again counts once; once projected it counts once`, async () => {
    const referrerId = customer('anna');
    await referralsOf(referrerId, limit - 1, 2 * HOUR);
    const early = randomUUID();
    const count = () =>
      db
        .transaction()
        .execute((trx) =>
          countReferralEarly(trx, { referralId: early, referrerId, createdAt: new Date(AT.getTime() - HOUR) }),
        );
    await count();
    await count();
    expect(await flagsFor({ referrerId })).toEqual(['HIGH_VELOCITY']);
    expect(await flagsFor({ referrerId, referralId: early })).toEqual([]);

    await insertReferralRow(db, {
      id: early,
      program_id: PROGRAM,
      referrer_id: referrerId,
      status: 'pending',
      registered_at: null,
      created_at: new Date(AT.getTime() - HOUR),
    });
    expect(await flagsFor({ referrerId, referralId: early })).toEqual([]);
    // counting it early again once it is projected writes nothing: it stays counted once when forgotten early
    await count();
    await uncountReferral(db, early);
    expect(await flagsFor({ referrerId })).toEqual(['HIGH_VELOCITY']);
  });

  it('given referrals exactly 24 hours before, longer ago and after the moment judged, when one more is claimed, then none of them counts', async () => {
    const referrerId = customer('anna');
    await referralsOf(referrerId, limit - 1, 23 * HOUR);
    await referralsOf(referrerId, 1, 24 * HOUR);
    await referralsOf(referrerId, 3, 30 * HOUR);
    await referralsOf(referrerId, 3, -HOUR);
    expect(await flagsFor({ referrerId })).toEqual([]);
    // a narrower window leaves out the 23-hour-old ones as well
    expect(await flagsFor({ referrerId, review: { velocityLimit: 1, velocityWindow: '1 hour' } })).toEqual([]);
  });

  it('given a programme’s own limit and window, when they are passed, then they decide', async () => {
    const referrerId = customer('anna');
    await referralsOf(referrerId, 2, 10 * 60 * 1000);
    const check = { referrerId, at: AT };
    expect(await computeFraudFlags(db, { ...check, review: { velocityLimit: 3, velocityWindow: '1 hour' } })).toEqual(
      [],
    );
    expect(await computeFraudFlags(db, { ...check, review: { velocityLimit: 2, velocityWindow: '1 hour' } })).toEqual([
      'HIGH_VELOCITY',
    ]);
    expect(await computeFraudFlags(db, { ...check, review: { velocityLimit: 2, velocityWindow: '5m' } })).toEqual([]);
  });
});

describe('all flags together', () => {
  it('given a referee who trips every rule, when flags are computed, then each is listed once, sorted', async () => {
    const referrerId = customer('anna');
    const device = `device-${randomUUID()}`;
    await upsertCustomer(db, { id: referrerId, email: 'anna@gmail.com' });
    await recordCustomerContext(db, referrerId, { ip: '203.0.113.50', deviceId: device }, AT);
    await insertReferralRow(db, { program_id: PROGRAM, referrer_id: customer('zoe'), device_id: device });
    await referralsOf(referrerId, REVIEW_DEFAULTS.velocityLimit, HOUR);
    expect(
      await flagsFor({
        referrerId,
        referee: { email: 'an.na+2@googlemail.com', phone: '+919800000000', ip: '203.0.113.50', deviceId: device },
      }),
    ).toEqual(['DEVICE_REUSE', 'EMAIL_ALIAS', 'HIGH_VELOCITY', 'SAME_IP']);
  });
});

describe('recordCustomerContext', () => {
  it('given a context kept once, when it is recorded again later with a new device, then the first sighting stays and the new value is added', async () => {
    const referrerId = customer('anna');
    await recordCustomerContext(db, referrerId, { ip: '203.0.113.8', deviceId: 'phone-1' }, AT);
    const later = new Date(AT.getTime() + HOUR);
    await recordCustomerContext(db, referrerId, { ip: '203.0.113.8', deviceId: 'phone-2' }, later);
    await recordCustomerContext(db, referrerId, undefined, later);
    const rows = await db
      .selectFrom('customer_contexts')
      .select(['kind', 'value', 'first_seen_at'])
      .where('customer_id', '=', referrerId)
      .orderBy('kind')
      .orderBy('value')
      .execute();
    expect(rows).toEqual([
      { kind: 'device', value: 'phone-1', first_seen_at: AT },
      { kind: 'device', value: 'phone-2', first_seen_at: later },
      { kind: 'ip', value: '203.0.113.8', first_seen_at: AT },
    ]);
  });
});
