import net from 'node:net';

/**
 * Ports are drawn from below the default ephemeral range (32768–60999 on Linux, 49152 up elsewhere): port 0 would hand
 * out one of those, and every outgoing connection on the machine (a test's database or Temporal client) takes its local
 * port from that same range, so a port found free that way can be taken by a connection before its server binds it. A
 * host whose range was widened below 32768 brings that race back. They
 * also fit a SMALLINT, as the Temporal server keeps its membership ports (`cluster_membership.rpc_port`): one from
 * 32768 up makes it exit at start with "value is out of range for type smallint".
 */
const LOWEST = 10_000;
const HIGHEST = 32_767;

/** A port nothing listens on right now, so parallel tests and benchmarks never collide. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LOWEST} and ${HIGHEST}`);
}

/** On every address: a listener on 0.0.0.0 or on 127.0.0.1 both make it fail. */
const canListen = (port: number): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(false) : reject(error),
    );
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });

/** `count` distinct free ports: two asks in a row may be handed the same one. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count && tries < count * 20; tries++) ports.add(await freePort());
  if (ports.size < count) throw new Error(`could not find ${count} distinct free ports`);
  return [...ports];
}

/**
 * Runs `start` on fresh free ports, again on others when one was taken between being found free and being bound
 * (another process on the machine got there first): the only error that trying again can fix.
 */
export async function onFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePorts(count));
    } catch (error) {
      if (attempt >= attempts || !/address already in use|EADDRINUSE/i.test(String(error))) throw error;
    }
  }
}
