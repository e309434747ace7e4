import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../../api/app';
import type { DB } from '../../db/connection';
import { TASK_QUEUE } from '../../workflows/shared';
import { API_KEYS, httpClient } from './http';

/** A Temporal client for tests of routes that must never reach Temporal: any use fails the test (and is counted). */
export const untouchableTemporal = (onTouch: () => void = () => {}): Client =>
  new Proxy(
    {},
    {
      get: () => {
        onTouch();
        throw new Error('Temporal must not be called here');
      },
    },
  ) as Client;

/** The API over a test database, called with `app.request()` (no port), with the test keys and a quiet log. */
export function appOver(db: DB, options: { temporal?: Client; clock?: () => Date } = {}) {
  const app = createApp({
    db,
    temporal: options.temporal ?? untouchableTemporal(),
    clock: options.clock ?? (() => new Date()),
    apiKeys: API_KEYS,
    logger: pino({ level: 'silent' }),
    taskQueue: TASK_QUEUE,
  });
  return { app, api: httpClient(async (path, init) => app.request(path, init)) };
}
