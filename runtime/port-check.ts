import net from 'node:net';

export class PortInUseError extends Error {}

/**
 * Fails when something already listens on a port a server of ours is about to take. Without this, a client of the
 * new server could reach the old process instead (a Temporal dev server left running keeps answering on 7233), and
 * the run would silently work against another data folder.
 */
export async function requirePortsFree(
  ports: Array<{ port: number; setting?: string | undefined }>,
  server: string,
  /** how long a port may take to come free: a server of ours just stopped lets its ports go a moment after it exits */
  { withinMs = 0 }: { withinMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (const { port, setting } of ports) {
    if (await comesFree(port, deadline)) continue;
    throw new PortInUseError(
      `port ${port} is in use by another process, so the ${server} cannot start there: stop that process` +
        (setting ? ` or set ${setting} to a free port` : ' or choose another port'),
    );
  }
}

async function comesFree(port: number, deadline: number): Promise<boolean> {
  for (;;) {
    if (await isFree(port)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Binding is the only reliable question: a listener on 0.0.0.0 or 127.0.0.1 both make it fail with EADDRINUSE. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
