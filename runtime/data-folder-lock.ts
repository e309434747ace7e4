import { createHash } from 'node:crypto';
import { realpath, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { processStartTicks } from './process-table';

export class DataFolderInUseError extends Error {}

/**
 * One `npm start` per data folder. With the folder held, any server found running on its files is a leftover of a
 * killed run and may be stopped; without it, a second start would stop the servers of the first.
 *
 * The lock is a listening unix socket named after the folder's real path. Only one process can bind a name, and the
 * kernel frees it the moment its holder dies, however it dies: there is no stale lock to take over, so no race in
 * taking one over. On Linux the name is in the abstract namespace (no file at all); elsewhere it is a socket file in
 * the temporary folder, removed when it refuses connections (its holder is gone). A start that finds the folder held
 * asks the holder its pid over the socket, for the message. `npm-start.pid` in the folder names the holder for
 * humans only; nothing reads it to decide.
 *
 * Returns the release function, which releases only this lock.
 */
export async function lockDataFolder(dataDir: string): Promise<() => Promise<void>> {
  const real = await realpath(dataDir);
  const address = lockAddress(real);
  const server = await listenOrRefuse(address, dataDir);
  const pidFile = path.join(dataDir, 'npm-start.pid');
  await writeFile(
    pidFile,
    `${JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid) ?? '' })}\n`,
    { mode: 0o644 },
  );
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    // Ours as long as we listen: nobody else writes it before winning the socket.
    await rm(pidFile, { force: true });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

function lockAddress(realDataDir: string): string {
  const hash = createHash('sha256').update(realDataDir).digest('hex').slice(0, 32);
  return process.platform === 'linux'
    ? `\0referral-engine-${hash}`
    : path.join(tmpdir(), `referral-engine-${hash}.sock`);
}

async function listenOrRefuse(address: string, dataDir: string): Promise<net.Server> {
  for (let attempt = 0; ; attempt += 1) {
    const server = net.createServer((socket) => socket.end(`${process.pid}\n`));
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once('error', resolve);
      server.listen({ path: address, exclusive: true }, () => resolve(undefined));
    });
    if (!error) {
      // The lock must not keep the process alive by itself.
      server.unref();
      return server;
    }
    if (error.code !== 'EADDRINUSE') throw error;
    const holder = await askHolder(address);
    if (holder !== undefined) {
      throw new DataFolderInUseError(
        `${dataDir} is in use by another npm start${holder ? ` (pid ${holder})` : ''}: stop it, or set DATA_DIR to another folder`,
      );
    }
    // A socket file nobody listens on (no abstract name outlives its holder): what a killed start left behind.
    if (process.platform === 'linux' || attempt > 0) {
      throw new DataFolderInUseError(
        `could not take the lock of ${dataDir} (${address}): another npm start is starting on it`,
      );
    }
    await rm(address, { force: true });
  }
}

/** The holder's pid ('' if it did not say); undefined when nobody listens. */
function askHolder(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = net.connect({ path: address });
    socket.setTimeout(2_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? undefined : ''),
    );
    socket.once('close', () => resolve(/^\d+\n$/.test(answer) ? answer.trim() : ''));
  });
}
