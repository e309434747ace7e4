import proto from '@temporalio/proto';

const { temporal } = proto;
export type History = ReturnType<typeof temporal.api.history.v1.History.decode>;
export type HistoryEvent = ReturnType<typeof temporal.api.history.v1.HistoryEvent.create>;

/**
 * A recorded history rewritten by a test (events moved, added or left out), numbered again from 1 with every
 * reference to an event id following, and passed through the wire format, as a replay takes it.
 */
export function renumberedHistory(events: HistoryEvent[]): History {
  const renumbered = new Map(events.map((e, i) => [String(e.eventId ?? ''), i + 1]));
  events.forEach((e, i) => {
    for (const [key, attributes] of Object.entries(e)) {
      if (!key.endsWith('Attributes') || !attributes || typeof attributes !== 'object') continue;
      for (const [field, value] of Object.entries(attributes as Record<string, unknown>)) {
        if (!field.endsWith('EventId') || value === null || value === undefined) continue;
        // a number or a protobuf Long
        const id = (value as { toString(): string }).toString();
        if (renumbered.has(id)) (attributes as Record<string, unknown>)[field] = renumbered.get(id);
      }
    }
    e.eventId = (i + 1) as unknown as HistoryEvent['eventId'];
  });
  return temporal.api.history.v1.History.decode(
    temporal.api.history.v1.History.encode(temporal.api.history.v1.History.create({ events })).finish(),
  );
}
