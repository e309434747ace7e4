/**
 * The stored form of contact details, so "same e-mail" and "same phone" compare what a person would call the same.
 * Alias detection (`ann+1@`, dots in Gmail) is a fraud signal, not normalisation, and lives with the fraud rules.
 */
export function normaliseEmail(email: string | null | undefined): string | null {
  const trimmed = email?.trim().toLowerCase();
  return trimmed ? trimmed : null;
}

/** Digits only, keeping a leading `+`: "+91 98765-43210" and "+919876543210" are one phone. */
export function normalisePhone(phone: string | null | undefined): string | null {
  if (!phone) return null;
  const trimmed = phone.trim();
  const digits = trimmed.replace(/\D/g, '');
  if (!digits) return null;
  return trimmed.startsWith('+') ? `+${digits}` : digits;
}
