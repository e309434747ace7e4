import { createHash, randomUUID } from 'node:crypto';

/**
 * A UUID derived from a caller's key (an event id, an Idempotency-Key): the same key always names the same referral,
 * so a retried request reaches the workflow it started the first time instead of starting a second one.
 */
export function uuidFromKey(namespace: string, key: string): string {
  const hex = createHash('sha256').update(`${namespace}\u0000${key}`).digest('hex').slice(0, 32).split('');
  hex[12] = '8'; // RFC 9562 version 8: custom
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export const newReferralId = (): string => randomUUID();
