import type { DB } from '../db/connection';
import { creditLot, expireLot } from '../db/ledger';
import type { CreditedLot, LotCreditRequest } from '../workflows/lot-shared';

/** The points ledger's writes a lot's workflow makes; each is idempotent, so a retried activity books nothing twice. */
export function createLedgerActivities({ db }: { db: DB }) {
  return {
    async creditPointLot(request: LotCreditRequest & { workflowRunId: string }): Promise<CreditedLot> {
      const { lot, created } = await creditLot(db, {
        customerId: request.customerId,
        points: request.points,
        creditedAt: new Date(request.creditedAt),
        expiresAt: new Date(request.expiresAt),
        source: request.source,
        workflowRunId: request.workflowRunId,
        qualifyingOrderIds: request.qualifyingOrderIds ?? null,
        actor: request.actor ?? null,
        reason: request.reason ?? null,
        creditKey: request.creditKey,
      });
      return {
        lotId: lot.id,
        customerId: lot.customer_id,
        points: lot.points,
        creditedAt: lot.credited_at.toISOString(),
        expiresAt: lot.expires_at.toISOString(),
        created,
      };
    },

    /** What is left of the lot expires, with a ledger entry dated `at` (when its timer fired). */
    async expirePointLot({ lotId, at }: { lotId: string; at: string }): Promise<{ expired: number }> {
      return expireLot(db, lotId, new Date(at));
    },
  };
}

export type LedgerActivities = ReturnType<typeof createLedgerActivities>;
