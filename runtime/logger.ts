import pino from 'pino';

/** Structured JSON logs on stdout, one line per event; `LOG_LEVEL` sets the floor. */
export const createLogger = (name: string) =>
  pino({ name, level: process.env.LOG_LEVEL ?? 'info', base: { service: name } });

export type Logger = ReturnType<typeof createLogger>;
