import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * What an operator filters on in the Temporal UI, e.g. `ReferralStatus = "registered" AND ProgramId = "..."`.
 * The project registers these with the server (dev server flags, the operator API, or the compose setup job).
 */
export const ReferralStatusKey = defineSearchAttributeKey('ReferralStatus', SearchAttributeType.KEYWORD);
export const ReferrerIdKey = defineSearchAttributeKey('ReferrerId', SearchAttributeType.KEYWORD);
export const RefereeIdKey = defineSearchAttributeKey('RefereeId', SearchAttributeType.KEYWORD);
export const ProgramIdKey = defineSearchAttributeKey('ProgramId', SearchAttributeType.KEYWORD);
export const ReferralCodeKey = defineSearchAttributeKey('ReferralCode', SearchAttributeType.KEYWORD);
/** The fraud signals a referral carries: `ReferralFlags = "SAME_IP"`, or `ReferralFlags IS NOT NULL` for any. */
export const ReferralFlagsKey = defineSearchAttributeKey('ReferralFlags', SearchAttributeType.KEYWORD_LIST);

export const REFERRAL_SEARCH_ATTRIBUTES = [
  ReferralStatusKey,
  ReferrerIdKey,
  RefereeIdKey,
  ProgramIdKey,
  ReferralCodeKey,
  ReferralFlagsKey,
] as const;
