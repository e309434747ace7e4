import type { Client } from '@temporalio/client';
import net from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../api/serve';
import type { DB } from '../../db/connection';
import { freePort } from '../../runtime/free-port';
import { PortInUseError } from '../../runtime/port-check';
import { createTestDatabase } from '../support/database';
import { API_KEYS } from '../support/http';

/**
 * The API's port taken after the start checked it (by any process on the machine): the start fails with the port
 * named, and the relay it began is stopped, instead of the server's error event ending the process.
 */
let db: DB;
let drop: () => Promise<void>;
beforeAll(async () => ({ db, drop } = await createTestDatabase()));
afterAll(() => drop());

describe('the API on a port another process holds', () => {
  it('given the port taken, when the API starts there, then the start fails naming the port, and a start on a free port runs', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '0.0.0.0', resolve));
    const start = (on: number) =>
      startApi({
        db,
        temporal: {} as Client,
        apiKeys: API_KEYS,
        port: on,
        logger: pino({ level: 'silent' }),
        relay: { intervalMs: 60_000 },
      });
    try {
      const refused = start(port);
      await expect(refused).rejects.toThrow(PortInUseError);
      await expect(refused).rejects.toThrow(`port ${port} is in use by another process`);
    } finally {
      holder.close();
    }
    const running = await start(0);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    await running.stop();
  });
});
