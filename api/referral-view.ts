import { z } from '@hono/zod-openapi';
import type { ReferralView as ReferralViewShape } from '../intake/referral-view';
import { Lot } from './points';
import { InstantOut, ReferralStatusSchema } from './schemas';
import { Voucher } from './vouchers';

export const Deadlines = z
  .object({
    expiresAt: InstantOut.nullable().openapi({ description: 'a pending referral expires then' }),
    qualifyBy: InstantOut.nullable().openapi({ description: 'a registered referral must qualify by then (inclusive)' }),
    holdUntil: InstantOut.nullable().openapi({ description: 'a qualified referral completes then' }),
  })
  .openapi('Deadlines');

const ReferralReview = z.object({
  decideBy: InstantOut.openapi({ description: "the admin's approve or reject is due by then" }),
});

export const ReferralView = z
  .object({
    id: z.string(),
    status: ReferralStatusSchema,
    programId: z.string(),
    programVersion: z.number().int(),
    referrerId: z.string(),
    refereeId: z.string().nullable(),
    code: z.string(),
    channel: z.string().nullable(),
    createdAt: InstantOut,
    updatedAt: InstantOut,
    registeredAt: InstantOut.nullable(),
    qualifiedAt: InstantOut.nullable(),
    completedAt: InstantOut.nullable(),
    endedAt: InstantOut.nullable(),
    endReason: z.string().nullable(),
    deadlines: Deadlines,
    progress: z.object({
      countedOrders: z.number().int(),
      countedSpend: z.number().int().openapi({ description: 'minor units' }),
    }),
    flags: z.array(z.string()).openapi({
      description:
        'fraud signals found at claim and signup (SAME_IP, DEVICE_REUSE, EMAIL_ALIAS, HIGH_VELOCITY); empty when none',
      example: [],
    }),
    review: ReferralReview.nullable().openapi({ description: 'while the referral is under_review, else null' }),
  })
  .openapi('Referral');

// The schema describes exactly what the intake returns: a change on either side fails the type check.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameShape: Same<z.infer<typeof ReferralView>, ReferralViewShape> = true;
void _sameShape;

/** What a referral has paid so far, each null until issued. */
export const ReferralRewards = z
  .object({
    voucher: Voucher.nullable().openapi({ description: "the referee's voucher, issued at registration" }),
    referrerPoints: Lot.nullable().openapi({ description: "the referrer's lot, credited at completion" }),
    milestone: Lot.nullable().openapi({ description: "the referrer's milestone bonus lot" }),
  })
  .openapi('ReferralRewards');

export const ReferralWithRewards = ReferralView.extend({ rewards: ReferralRewards }).openapi('ReferralWithRewards');
