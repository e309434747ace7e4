import type { Connection } from '@temporalio/client';
import { REFERRAL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

import { SearchAttributeType } from '@temporalio/common';

// temporal.api.enums.v1.IndexedValueType (the proto package is not a direct dependency)
const INDEXED_VALUE_TYPE: Partial<Record<SearchAttributeType, number>> = {
  [SearchAttributeType.KEYWORD]: 2,
  [SearchAttributeType.KEYWORD_LIST]: 7,
};

/**
 * Registers the referral search attributes with the namespace if they are missing, so operators can filter in the
 * Temporal UI and workflows can upsert them. Safe to call on every start.
 */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const wanted = Object.fromEntries(REFERRAL_SEARCH_ATTRIBUTES.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]!]));
  let existing: Record<string, unknown> = {};
  try {
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    existing = { ...listed.customAttributes, ...listed.systemAttributes };
  } catch {
    // Some servers (the time-skipping test server) do not list; adding is still idempotent below.
  }
  const missing = Object.fromEntries(Object.entries(wanted).filter(([name]) => !(name in existing)));
  if (Object.keys(missing).length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (error) {
    if (!/already exists/i.test(String((error as Error).message))) throw error;
  }
}
