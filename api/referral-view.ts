import { z } from '@hono/zod-openapi';
import type { ReferralRow } from '../db/schema';
import type { ReferralSnapshot } from '../workflows/shared';
import { ReferralStatusSchema } from './schemas';

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

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

export const toReferralView = (row: ReferralRow): z.infer<typeof ReferralView> => ({
  id: row.id,
  status: row.status,
  programId: row.program_id,
  programVersion: row.program_version,
  referrerId: row.referrer_id,
  refereeId: row.referee_id,
  code: row.code,
  channel: row.channel,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  registeredAt: iso(row.registered_at),
  qualifiedAt: iso(row.qualified_at),
  completedAt: iso(row.completed_at),
  endedAt: iso(row.ended_at),
  endReason: row.end_reason,
  deadlines: { expiresAt: iso(row.expires_at), qualifyBy: iso(row.qualify_by), holdUntil: iso(row.hold_until) },
  // Spend is summed from safe-integer order amounts, so it fits a JSON number exactly.
  progress: { countedOrders: row.counted_orders, countedSpend: Number(row.counted_spend) },
});

/** The same view from the workflow's own state, for the moment between a start and its first projection write. */
export const snapshotToReferralView = (s: ReferralSnapshot, updatedAt: string): z.infer<typeof ReferralView> => ({
  id: s.referralId,
  status: s.status,
  programId: s.programId,
  programVersion: s.programVersion,
  referrerId: s.referrerId,
  refereeId: s.refereeId,
  code: s.code,
  channel: null,
  createdAt: s.createdAt,
  updatedAt: s.recentTimeline.at(-1)?.at ?? updatedAt,
  registeredAt: s.registeredAt,
  qualifiedAt: s.qualifiedAt,
  completedAt: s.completedAt,
  endedAt: s.endedAt,
  endReason: s.endReason,
  deadlines: s.deadlines,
  progress: { countedOrders: s.progress.countedOrders, countedSpend: s.progress.countedSpend },
});
