import pino from 'pino';

/** Structured JSON logs on stdout, one line per event. */
export const createLogger = (name: string, level: string = 'info') => pino({ name, level, base: { service: name } });

export type Logger = ReturnType<typeof createLogger>;
