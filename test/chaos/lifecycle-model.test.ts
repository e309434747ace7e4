import { describe, expect, it } from 'vitest';
import { expectReferral, type ReferralRecord, type SentMove } from '../../scripts/chaos/lifecycle-model';
import { profileFor, secondVersion } from '../../scripts/chaos/profile';

const v1 = profileFor('short', 10_000, 60_000);
const versions = new Map([
  [1, v1],
  [2, secondVersion(v1)],
]);
const T0 = Date.parse('2026-11-25T12:00:00Z');
const W = v1.qualificationWindowMs;
const G = v1.lateEventGraceMs;

function referral(overrides: Partial<ReferralRecord> = {}): ReferralRecord {
  return {
    key: 'r1',
    kind: 'after_window',
    referrerId: 'anna',
    refereeId: 'ben',
    flagged: false,
    referralId: 'a1a1a1a1-0000-4000-8000-000000000001',
    programVersion: 1,
    moves: [],
    claim: null,
    signup: { eventId: 'e1', occurredAtMs: T0, status: 201, code: null, sentAtMs: T0, answeredAtMs: T0 + 100 },
    lateSignup: null,
    // dated after the first version's window, inside the second's
    orders: [
      {
        eventId: 'o1',
        orderId: 'o1',
        status: 'completed',
        amount: 60_000,
        occurredAtMs: T0 + W + 1_000,
        acceptedAtMs: T0 + W + 1_100,
        copies: 1,
        firstAcceptances: 1,
      },
    ],
    admin: [],
    voucher: null,
    incomplete: null,
    ...overrides,
  };
}

const move = (overrides: Partial<SentMove> = {}): SentMove => ({
  moveId: 'm1',
  dryRun: false,
  toVersion: 2,
  sentAtMs: T0 + 2_000,
  finishedAtMs: T0 + 4_000,
  outcome: 'moved',
  code: null,
  ...overrides,
});

describe('the lifecycle model under term moves', () => {
  it('given an order after the first window, when the referral is not moved, then it expires under version 1', () => {
    const expected = expectReferral(referral(), versions);
    expect(expected.status).toBe('expired');
    expect(expected.programVersion).toBe(1);
    expect(expected.answerMismatches).toEqual([]);
  });

  it('given the same order, when a move reports the referral moved, then the longer window counts it and it completes', () => {
    const expected = expectReferral(referral({ moves: [move()] }), versions);
    expect(expected.status).toBe('completed');
    expect(expected.programVersion).toBe(2);
    expect(expected.answerMismatches).toEqual([]);
  });

  it('given a dry run only, when it reports would_move, then nothing changes', () => {
    const expected = expectReferral(referral({ moves: [move({ dryRun: true, outcome: 'would_move' })] }), versions);
    expect(expected.status).toBe('expired');
    expect(expected.programVersion).toBe(1);
    expect(expected.answerMismatches).toEqual([]);
  });

  it('given a referral an admin cancelled before the move, when the move reports it moved, then that is a mismatch', () => {
    const cancelled = referral({
      admin: [
        {
          action: 'cancel',
          requestId: 'c1',
          status: 200,
          code: null,
          sentAtMs: T0 + 500,
          answeredAtMs: T0 + 600,
          copies: 1,
          duplicateAnswers: 0,
        },
      ],
      moves: [move()],
    });
    expect(expectReferral(cancelled, versions).answerMismatches).toEqual([
      expect.stringContaining('ended or decided before the move'),
    ]);
  });

  it('given an open referral well inside its grace, when the move refuses it, then that is a mismatch', () => {
    const refused = referral({ moves: [move({ outcome: 'refused', code: 'stage_decided' })] });
    expect(expectReferral(refused, versions).answerMismatches).toEqual([
      expect.stringContaining('open and undecided throughout'),
    ]);
  });

  it('given a referral past its window and grace, when the move reaches it, then it must be refused', () => {
    const late = referral({
      moves: [move({ sentAtMs: T0 + W + G + v1.rewardHoldMs + 1_000, finishedAtMs: T0 + W + G + 10_000 })],
    });
    expect(expectReferral(late, versions).answerMismatches).toEqual([
      expect.stringContaining('ended or decided before the move'),
    ]);
  });

  it('given an extension granted before the move, when the new window ends sooner, then the extension holds', () => {
    const extended = referral({
      kind: 'extend',
      orders: [
        {
          eventId: 'o1',
          orderId: 'o1',
          status: 'completed',
          amount: 60_000,
          occurredAtMs: T0 + 3.5 * W,
          acceptedAtMs: T0 + 3.5 * W + 100,
          copies: 1,
          firstAcceptances: 1,
        },
      ],
      admin: [
        {
          action: 'extend',
          requestId: 'x1',
          byMs: 3 * W,
          status: 200,
          code: null,
          sentAtMs: T0 + 500,
          answeredAtMs: T0 + 600,
          copies: 1,
          duplicateAnswers: 0,
        },
      ],
      moves: [move()],
    });
    expect(expectReferral(extended, versions).status).toBe('completed');
  });

  it('given a referral started under version 2, when a move to 2 reports it unchanged, then that is what it owes', () => {
    const onTwo = referral({ programVersion: 2, moves: [move({ outcome: 'unchanged', code: 'same_version' })] });
    const expected = expectReferral(onTwo, versions);
    expect(expected.answerMismatches).toEqual([]);
    expect(expected.status).toBe('completed');
  });
});

describe('the lifecycle model at the voucher checkout', () => {
  const noOrders = { orders: [] };
  const taken = { status: 201, code: null };
  const refused = { status: 409, code: 'voucher_not_active' };
  const checkout = (
    answeredAtMs: number,
    answer: { status: number; code: string | null },
    otherKey: { status: number; code: string | null },
  ): ReferralRecord['voucher'] => ({
    code: 'R39TM8K9ZCNS',
    redeemed: answer.status === 201,
    answers: [{ ...answer, answeredAtMs }],
    sentAtMs: answeredAtMs - 100,
    otherKey,
  });

  it('given a voucher taken at checkout, when a second key asks, then it owes voucher_already_redeemed', () => {
    const used = referral({
      ...noOrders,
      voucher: checkout(T0 + 1_000, taken, { status: 409, code: 'voucher_already_redeemed' }),
    });
    const expected = expectReferral(used, versions);
    expect(expected.voucher).toBe('redeemed');
    expect(expected.answerMismatches).toEqual([]);
  });

  it('given a checkout after the window and its grace ended unqualified, when it is refused as not active, then the model follows', () => {
    const late = referral({ ...noOrders, voucher: checkout(T0 + W + G + 50, refused, refused) });
    const expected = expectReferral(late, versions);
    expect(expected.status).toBe('expired');
    expect(expected.voucher).toBe('void');
    expect(expected.answerMismatches).toEqual([]);
    expect(expected.followedAnswer).toEqual([expect.stringContaining('voided by the referral')]);
  });

  it('given a checkout in the window’s grace, before the expiry can be decided, when it is refused as not active, then that is a mismatch', () => {
    const early = referral({ ...noOrders, voucher: checkout(T0 + W + G - 5_000, refused, refused) });
    expect(expectReferral(early, versions).answerMismatches).toEqual([
      'voucher redemption answered 409 voucher_not_active',
      'a second key on voucher R39TM8K9ZCNS answered 409 voucher_not_active, not 409 voucher_already_redeemed',
    ]);
  });

  it('given a qualification lost in the hold while the window is open, when the checkout is refused as not active before the window’s grace ended, then that is a mismatch (the referral went back to registered)', () => {
    const refundedInHold = referral({
      orders: [
        {
          eventId: 'o1',
          orderId: 'o1',
          status: 'completed',
          amount: 60_000,
          occurredAtMs: T0 + 500,
          acceptedAtMs: T0 + 600,
          copies: 1,
          firstAcceptances: 1,
        },
        {
          eventId: 'o1-refund',
          orderId: 'o1',
          status: 'refunded',
          amount: 60_000,
          occurredAtMs: T0 + 1_500,
          acceptedAtMs: T0 + 1_600,
          copies: 1,
          firstAcceptances: 1,
        },
      ],
      voucher: checkout(T0 + 4_500, refused, refused),
    });
    const expected = expectReferral(refundedInHold, versions);
    expect(expected.status).toBe('expired');
    expect(expected.answerMismatches).toContain('voucher redemption answered 409 voucher_not_active');
  });

  it('given a referral that completes, when its checkout is refused at any time, then that is a mismatch', () => {
    const completes = referral({
      programVersion: 2,
      voucher: checkout(T0 + 10 * W, refused, refused),
    });
    const expected = expectReferral(completes, versions);
    expect(expected.status).toBe('completed');
    expect(expected.answerMismatches).toContain('voucher redemption answered 409 voucher_not_active');
  });
});
