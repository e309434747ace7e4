import type { DB } from './connection';
import type { ClaimRequest } from './schema';

/** Records the first claim made with an Idempotency-Key; a later one with the same key gets the existing row. */
export async function reserveClaimRequest(
  db: DB,
  request: {
    idempotencyKey: string;
    payloadHash: string;
    referralId: string;
    response: Record<string, unknown> | null;
  },
): Promise<{ created: boolean; request: ClaimRequest }> {
  const inserted = await db
    .insertInto('claim_requests')
    .values({
      idempotency_key: request.idempotencyKey,
      payload_hash: request.payloadHash,
      referral_id: request.referralId,
      response: request.response ? JSON.stringify(request.response) : null,
    })
    .onConflict((oc) => oc.column('idempotency_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { created: true, request: inserted };
  const existing = await db
    .selectFrom('claim_requests')
    .selectAll()
    .where('idempotency_key', '=', request.idempotencyKey)
    .executeTakeFirstOrThrow();
  return { created: false, request: existing };
}

export async function recordClaimResponse(
  db: DB,
  idempotencyKey: string,
  response: Record<string, unknown>,
): Promise<void> {
  await db
    .updateTable('claim_requests')
    .set({ response: JSON.stringify(response) })
    .where('idempotency_key', '=', idempotencyKey)
    .where('response', 'is', null)
    .execute();
}
