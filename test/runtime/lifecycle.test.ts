import { describe, expect, it } from 'vitest';
import { createLifecycle, StartAborted } from '../../runtime/lifecycle';

/** npm start's order of things when a signal arrives while it is still starting, or the start fails. */
function harness() {
  const events: string[] = [];
  const log = {
    info: (_: object, message: string) => void events.push(message),
    error: (_: object, message: string) => void events.push(`ERROR ${message}`),
  };
  const lifecycle = createLifecycle(log);
  const part = (name: string) => ({
    name,
    stop: async () => void events.push(`stop ${name}`),
    stopped: `${name} stopped`,
  });
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { events, lifecycle, part, gate, release };
}

describe('npm start lifecycle', () => {
  it('given a stop asked for during a step of the start, then the start goes no further, and once it settles everything it started is stopped once, last first', async () => {
    const { events, lifecycle, part, gate, release } = harness();
    const started = lifecycle.start(async () => {
      lifecycle.register(part('lock'));
      lifecycle.checkpoint();
      lifecycle.register(part('postgres'));
      // spawned, not yet ready, when the signal comes
      await gate;
      events.push('postgres ready');
      lifecycle.checkpoint();
      events.push('temporal started');
      lifecycle.register(part('temporal'));
    });
    const stopped = lifecycle.stop('SIGINT');
    // asked twice (Ctrl-C and SIGTERM): one stop
    const again = lifecycle.stop('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(events).toEqual(['shutting down']);
    release();
    await expect(started).rejects.toThrow(StartAborted);
    expect(await stopped).toBe(0);
    expect(await again).toBe(0);
    expect(events).toEqual([
      'shutting down',
      'postgres ready',
      'stop postgres',
      'postgres stopped',
      'stop lock',
      'lock stopped',
      'stopped',
    ]);
  });

  it('given a stop asked for during a long step that listens to the signal (the bundle build), then that step ends at once and what was started is stopped', async () => {
    const { events, lifecycle, part } = harness();
    const started = lifecycle.start(async () => {
      lifecycle.register(part('postgres'));
      // never done on its own: only the stop ends it
      await new Promise((_, reject) =>
        lifecycle.signal.addEventListener('abort', () => reject(lifecycle.signal.reason as Error)),
      );
      lifecycle.register(part('worker'));
    });
    expect(lifecycle.signal.aborted).toBe(false);
    expect(await lifecycle.stop('SIGTERM')).toBe(0);
    await expect(started).rejects.toThrow(StartAborted);
    expect(events).toEqual(['shutting down', 'stop postgres', 'postgres stopped', 'stopped']);
  });

  it('given a start that fails after a stop was asked for (a server spawned as Ctrl-C reached the group dies of it), then it counts as stopped: exit code 0', async () => {
    const { events, lifecycle, part, gate, release } = harness();
    const started = lifecycle.start(async () => {
      lifecycle.register(part('lock'));
      await gate;
      throw new Error('temporal dev server exited (SIGINT)');
    });
    const stopped = lifecycle.stop('SIGINT');
    expect(lifecycle.stopRequested()).toBe(true);
    release();
    await expect(started).rejects.toThrow('SIGINT');
    expect(await stopped).toBe(0);
    expect(events).toEqual(['shutting down', 'stop lock', 'lock stopped', 'stopped']);
  });

  it('given a start that fails before any stop was asked for, then what it started is stopped and the exit code is 1', async () => {
    const { events, lifecycle, part, gate, release } = harness();
    const started = lifecycle.start(async () => {
      lifecycle.register(part('lock'));
      await gate;
      throw new Error('port 7233 is in use');
    });
    release();
    await expect(started).rejects.toThrow('port 7233');
    expect(await lifecycle.stop('start failed')).toBe(1);
    expect(events).toEqual(['shutting down', 'stop lock', 'lock stopped', 'stopped']);
  });

  it('given a start that fails, when stopped after it, then the exit code is 1; given one that succeeds, 0', async () => {
    const failing = harness();
    await failing.lifecycle.start(() => Promise.reject(new Error('no'))).catch(() => undefined);
    expect(await failing.lifecycle.stop('start failed')).toBe(1);
    const fine = harness();
    await fine.lifecycle.start(async () => fine.lifecycle.register(fine.part('api')));
    expect(await fine.lifecycle.stop('SIGTERM')).toBe(0);
    expect(fine.events).toContain('api stopped');
  });
});
