import { z } from '@hono/zod-openapi';
import type { ReferralView as ReferralViewShape } from '../intake/referral-view';
import { ReferralStatusSchema } from './schemas';

export const Deadlines = z
  .object({
    expiresAt: z.string().nullable().openapi({ description: 'a pending referral expires then' }),
    qualifyBy: z.string().nullable().openapi({ description: 'a registered referral must qualify by then (inclusive)' }),
    holdUntil: z.string().nullable().openapi({ description: 'a qualified referral completes then' }),
  })
  .openapi('Deadlines');

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
    createdAt: z.string(),
    updatedAt: z.string(),
    registeredAt: z.string().nullable(),
    qualifiedAt: z.string().nullable(),
    completedAt: z.string().nullable(),
    endedAt: z.string().nullable(),
    endReason: z.string().nullable(),
    deadlines: Deadlines,
    progress: z.object({ countedOrders: z.number().int(), countedSpend: z.number().int() }),
  })
  .openapi('Referral');


// The schema describes exactly what the intake returns: a change on either side fails the type check.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameShape: Same<z.infer<typeof ReferralView>, ReferralViewShape> = true;
void _sameShape;
