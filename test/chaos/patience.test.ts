import { afterEach, describe, expect, it, vi } from 'vitest';
import { faultInjector } from '../../scripts/chaos/faults';
import type { Answer, ChaosHttp } from '../../scripts/chaos/http';
import { Prng } from '../../scripts/chaos/prng';
import type { ChaosStack } from '../../scripts/chaos/stack';
import {
  FAULTS_OVERRUN_MS,
  MOVE_FINISH_BUDGET_MS,
  patienceEnds,
  patientHttp,
  REQUEST_PATIENCE_MS,
  type FaultTimes,
} from '../../scripts/chaos/workload';

/**
 * How long the chaos run waits on the product: a fault eats none of its patience, which is counted from the later of
 * the start and the end of the last fault, and bounded so the run ends.
 */
const T0 = Date.parse('2026-11-26T10:00:00Z');
const S = 1_000;
const MIN = 60 * S;
const faults = (times: { lastRecoveredAt?: number; faultSince?: number }): FaultTimes => ({
  lastRecoveredAt: () => times.lastRecoveredAt ?? null,
  faultSince: () => times.faultSince ?? null,
});
const FAR = T0 + 24 * 60 * MIN;

describe('patience', () => {
  it('when no fault has ended since the start, then it runs from the start', () => {
    expect(patienceEnds(T0, 20 * S, faults({}), FAR, T0 + 5 * S)).toBe(T0 + 20 * S);
    expect(patienceEnds(T0, 20 * S, faults({ lastRecoveredAt: T0 - MIN }), FAR, T0 + 5 * S)).toBe(T0 + 20 * S);
  });

  it('given a fault that ended after the start, then it runs from that end', () => {
    expect(patienceEnds(T0, 20 * S, faults({ lastRecoveredAt: T0 + 3 * MIN }), FAR, T0 + 3 * MIN + S)).toBe(
      T0 + 3 * MIN + 20 * S,
    );
  });

  it('given a fault under way, then it ends no sooner than its budget from now', () => {
    const now = T0 + 9 * MIN;
    expect(patienceEnds(T0, 20 * S, faults({ lastRecoveredAt: T0 + MIN, faultSince: now - S }), FAR, now)).toBe(
      now + 20 * S,
    );
  });

  it('given faults that go on past the latest instant it counts from, then it runs from that instant, so the run ends', () => {
    const latestFrom = T0 + 30 * MIN;
    expect(patienceEnds(T0, 20 * S, faults({ lastRecoveredAt: T0 + 45 * MIN }), latestFrom, T0 + 46 * MIN)).toBe(
      latestFrom + 20 * S,
    );
    expect(patienceEnds(T0, 20 * S, faults({ faultSince: T0 + 50 * MIN }), latestFrom, T0 + 51 * MIN)).toBe(
      latestFrom + 20 * S,
    );
    // something begun after that instant still gets its whole budget
    expect(patienceEnds(T0 + 40 * MIN, 20 * S, faults({}), latestFrom, T0 + 40 * MIN)).toBe(T0 + 40 * MIN + 20 * S);
  });

  it('when a move is awaited, then the budget covers the ten minutes the product tries each referral for', () => {
    expect(MOVE_FINISH_BUDGET_MS).toBeGreaterThan(10 * MIN);
    expect(REQUEST_PATIENCE_MS).toBeGreaterThanOrEqual(4 * MIN);
    expect(FAULTS_OVERRUN_MS).toBeGreaterThan(0);
  });
});

describe('a request sent patiently', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A send that takes its whole budget (4 minutes) and gets no answer, until `answersFrom`. */
  function slowHttp(answersFrom: number) {
    let sends = 0;
    const http: ChaosHttp = {
      stats: () => ({ requests: sends, retries: 0, gaveUp: 0 }),
      send: async () => {
        sends += 1;
        const sentAt = Date.now();
        if (Date.now() >= answersFrom) return { status: 201, body: { ok: true }, at: Date.now(), sentAt, retries: 0 };
        vi.setSystemTime(Date.now() + 4 * MIN);
        return { status: 0, body: null, at: Date.now(), sentAt, retries: 7 } satisfies Answer;
      },
    };
    return { http, sends: () => sends };
  }

  it('given faults until 15 minutes after the sending, when it is answered 3 minutes after the last, then it is answered, with its first sending time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const lastFault = T0 + 15 * MIN;
    const { http, sends } = slowHttp(lastFault + 3 * MIN);
    const patient = patientHttp(
      http,
      (sentAt) => patienceEnds(sentAt, REQUEST_PATIENCE_MS, faults({ lastRecoveredAt: lastFault }), FAR),
      () => false,
    );
    const answer = await patient.send('POST', '/v1/events/signups', 'key', {});
    expect(answer).toMatchObject({ status: 201, sentAt: T0 });
    // sent at 0, 4, 8, 12, 16 and 20 minutes: the last after the faults ended is answered
    expect(sends()).toBe(6);
    expect(answer.retries).toBe(7 + 4 * (1 + 7) + 1);
  });

  it('given no fault, when it gets no answer past its patience, then it is recorded as not answered', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { http, sends } = slowHttp(Infinity);
    const patient = patientHttp(
      http,
      (sentAt) => patienceEnds(sentAt, REQUEST_PATIENCE_MS, faults({}), FAR),
      () => false,
    );
    expect(await patient.send('GET', '/v1/customers/x/points', 'key')).toMatchObject({ status: 0, sentAt: T0 });
    // sent at 0, 4 and 8 minutes: ten minutes is over when the last gives up
    expect(sends()).toBe(3);
  });

  it('when the run is over, then it is not sent again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const { http, sends } = slowHttp(Infinity);
    const patient = patientHttp(
      http,
      () => FAR,
      () => true,
    );
    expect(await patient.send('GET', '/v1/customers/x/points', 'key')).toMatchObject({ status: 0 });
    expect(sends()).toBe(1);
  });
});

describe('the faults', () => {
  it('when a fault runs, then the workload can tell it is under way, and when the stack was whole again', async () => {
    let release: () => void = () => {};
    const restarted = new Promise<void>((resolve) => (release = resolve));
    const stack = {
      temporalKind: 'dev',
      stopTemporal: async () => {},
      startTemporal: () => restarted,
    } as unknown as ChaosStack;
    const injector = faultInjector({
      stack,
      prng: new Prng(7),
      perKind: 1,
      kinds: ['temporal_restart'],
      from: Date.now(),
      until: Date.now() + 10,
      pgOutageMs: 0,
      aborted: () => false,
      log: () => {},
    });
    expect(injector.hooks.faultSince()).toBeNull();
    expect(injector.hooks.lastRecoveredAt()).toBeNull();
    const before = Date.now();
    const run = injector.run();
    await vi.waitFor(() => expect(injector.hooks.faultSince()).not.toBeNull(), { timeout: 5_000 });
    expect(injector.hooks.faultSince()).toBeGreaterThanOrEqual(before);
    expect(injector.hooks.lastRecoveredAt()).toBeNull();
    const releasedAt = Date.now();
    release();
    const [fault] = await run;
    expect(fault).toMatchObject({ kind: 'temporal_restart' });
    expect(injector.hooks.faultSince()).toBeNull();
    expect(injector.hooks.lastRecoveredAt()).toBeGreaterThanOrEqual(releasedAt);
  });
});
