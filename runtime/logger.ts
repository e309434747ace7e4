import pino from 'pino';

/**
 * Structured JSON logs on stdout, one line per event. Written synchronously: an exit (or a crash) right after a line
 * is logged must neither lose it nor write it after the next one, and a shutdown's closing lines are the ones read
 * most. One small write per line is nothing next to the requests and activities that log them. The price: a reader of
 * stdout that stops reading (a stalled log shipper) stalls the process once the pipe is full.
 */
export const createLogger = (name: string, level: string = 'info') =>
  pino({ name, level, base: { service: name } }, pino.destination({ dest: 1, sync: true }));

export type Logger = ReturnType<typeof createLogger>;
