import { ApplicationFailure } from '@temporalio/common';
import { FAULTS } from '../workflows/shared';

/**
 * PostgreSQL errors that no retry can fix, by SQLSTATE class: the same statement with the same values fails the same
 * way for ever. They become non-retryable failures with a named type, so the workflow stops and surfaces them instead
 * of retrying for ever. Everything else (connection loss, serialization failures, deadlocks) stays retryable, and so
 * does class 42 (an undefined column or table, a missing privilege): that is a deploy or a role out of step with the
 * code, which an operator fixes, not something wrong with this referral's data, so its activities wait and resume.
 */
const PERMANENT_CLASSES: Record<string, string> = {
  '22': FAULTS.databaseData,
  '23': FAULTS.databaseIntegrity,
};

/** Single SQLSTATEs outside those classes that the data decides: an index row too large for its page. */
const PERMANENT_CODES: Record<string, string> = {
  '54000': FAULTS.databaseData,
};

const sqlStateOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

/** The non-retryable failure for a permanent database error, or undefined when retrying may help. */
export function permanentDatabaseFailure(error: unknown): ApplicationFailure | undefined {
  const sqlState = sqlStateOf(error);
  const type = sqlState ? (PERMANENT_CODES[sqlState] ?? PERMANENT_CLASSES[sqlState.slice(0, 2)]) : undefined;
  if (!sqlState || !type) return undefined;
  const { constraint, column, table } = error as { constraint?: string; column?: string; table?: string };
  return ApplicationFailure.create({
    type,
    message: `${(error as Error).message} (SQLSTATE ${sqlState})`,
    nonRetryable: true,
    details: [{ sqlState, constraint: constraint ?? null, column: column ?? null, table: table ?? null }],
    ...(error instanceof Error ? { cause: error } : {}),
  });
}

/** Wraps every activity so a permanent database error reaches Temporal as non-retryable. */
export function classifyDatabaseFaults<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  activities: T,
): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, activity]) => [
      name,
      // a named function keeps the activity's name in stack traces
      {
        [name]: async (...args: never[]) => {
          try {
            return await activity(...args);
          } catch (error) {
            throw permanentDatabaseFailure(error) ?? error;
          }
        },
      }[name]!,
    ]),
  ) as T;
}
