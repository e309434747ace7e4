/**
 * Which of a referral workflow's projection writes stand, judged by the instant of the workflow task that made each
 * (the timeline entry's `at`, which the workflow never lets go back).
 *
 * A workflow's tasks run one after another, and every write it keeps is awaited before the next task writes: so along
 * the history that stands, a later seq never carries an earlier instant. A write that breaks this comes from a task that
 * did not stand: a task lost with its worker after a local activity wrote (its retry runs later and decides again), or
 * an activity attempt that outlived its timeout. So:
 * - a write from a task earlier than the latest one heard from is refused;
 * - a write at or below the shown seq from a later task than every entry there replaces them: they are a lost task's,
 *   and the row moves back to the seq the history that stands has reached;
 * - the same task writing its own seq again (a retried attempt) rewrites it; writing below its own later entry is stale.
 */

export interface ShownProjection {
  /** the seq the row shows, undefined when the referral has no row yet */
  seq: number | undefined;
  /** the latest task instant heard from, epoch ms; null for rows from before it was kept */
  taskAtMs: number | null;
  /** the workflow's timeline entries from the written seq up to the shown one */
  entries: readonly { seq: number; atMs: number }[];
}

export type ProjectionVerdict =
  /** written at its seq; the entries above it up to the shown seq are dropped */
  | 'write'
  /** nothing written: it comes from a task that did not stand, or it is older than what is shown */
  | 'stale'
  /** a correction with nothing to correct: nothing written, but no earlier task's write lands after it */
  | 'heard';

export function judgeProjectionWrite(
  shown: ShownProjection,
  write: { seq: number; atMs: number; correctsOnly?: boolean | undefined },
): ProjectionVerdict {
  if (shown.taskAtMs !== null && write.atMs < shown.taskAtMs) return 'stale';
  if (shown.seq === undefined || write.seq > shown.seq) return write.correctsOnly ? 'heard' : 'write';
  const newer = shown.entries.some(
    (entry) =>
      entry.seq >= write.seq && (entry.atMs > write.atMs || (entry.seq > write.seq && entry.atMs === write.atMs)),
  );
  return newer ? 'stale' : 'write';
}
