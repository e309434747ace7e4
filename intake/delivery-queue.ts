import type { Logger } from '../runtime/logger';

/**
 * Deliveries of events already kept in the inbox, run after their request was answered. Bounded twice: at most
 * `concurrency` Temporal calls at once, at most `capacity` in hand; when full, the caller delivers itself, so a flood
 * slows its senders instead of growing memory. Whatever is in hand when the process dies is the relay's to finish.
 */
export interface DeliveryQueue {
  /** Takes the delivery if there is room; false when full or stopping (then the caller delivers it). */
  offer(delivery: () => Promise<unknown>): boolean;
  /** Takes no more and waits for those in hand, at most `withinMs`. */
  drain(withinMs: number): Promise<void>;
  /** deliveries waiting or running */
  size(): number;
}

export function createDeliveryQueue(options: { concurrency: number; capacity: number; logger: Logger }): DeliveryQueue {
  const waiting: Array<() => Promise<unknown>> = [];
  let running = 0;
  let stopping = false;
  let idle: Array<() => void> = [];

  const pump = (): void => {
    while (running < options.concurrency && waiting.length > 0) {
      const delivery = waiting.shift()!;
      running += 1;
      delivery()
        // the delivery recorded its own failure on the event; the relay retries it
        .catch((error: unknown) => options.logger.debug({ err: error }, 'background delivery failed'))
        .finally(() => {
          running -= 1;
          pump();
          if (running === 0 && waiting.length === 0) {
            for (const resolve of idle) resolve();
            idle = [];
          }
        });
    }
  };

  return {
    offer(delivery) {
      if (stopping || running + waiting.length >= options.capacity) return false;
      waiting.push(delivery);
      pump();
      return true;
    },
    async drain(withinMs) {
      stopping = true;
      if (running === 0 && waiting.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => idle.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs))),
      ]);
      clearTimeout(timer);
    },
    size: () => running + waiting.length,
  };
}
