import { describe, expect, it } from 'vitest';
import { WAKE_PHASES, wakeCpu, type PhaseCpu } from '../../scripts/bench/cpu';
import { figures } from '../../scripts/bench/report';

const phase = (name: string, seconds: number, cpuSeconds: PhaseCpu['cpuSeconds'], loadAverage = 1.9): PhaseCpu => ({
  phase: name,
  seconds,
  cpuSeconds,
  loadAverage,
  monotonicMicros: { from: 0, to: seconds * 1e6 },
});

const here = { cores: 2, wholeStackHere: true };
// The wait before the instant costs little and lasts long: read with the wake, the share of the cores would be
// (160 + 8) / (500 × 2), a fifth of the wake's own 80%.
const phases = [
  phase('product: registered in 100.0 s; waiting for the windows to close', 400, { service: 4, temporal: 4 }),
  phase(`${WAKE_PHASES.windows}: 1000 referrals to expire`, 100, { service: 60, temporal: 80, postgres: 20, bench: 0 }),
  phase('product: all expired 99.00 s after the instant; reading 40 histories', 5, { temporal: 1 }),
];

describe("a mass wake's CPU, from its own phase", () => {
  it('given the phases of a run, when read per expiry, then only the phase from the instant on counts, by process and against the cores', () => {
    const wake = wakeCpu(phases, WAKE_PHASES.windows, 1000, here);
    expect(wake).not.toBeNull();
    expect(wake!.seconds).toBe(100);
    expect(wake!.msPerOperation).toBeCloseTo(160);
    expect(wake!.msPerOperationByGroup).toEqual({ service: 60, temporal: 80, postgres: 20, bench: 0 });
    expect(wake!.shareOfCores).toBeCloseTo(0.8);
    expect(wake!.loadAverage).toBe(1.9);
  });

  it('given a Temporal or PostgreSQL elsewhere, then the CPU per expiry is read and the share of the cores is not', () => {
    const wake = wakeCpu(phases, WAKE_PHASES.windows, 1000, { cores: 2, wholeStackHere: false });
    expect(wake!.msPerOperation).toBeCloseTo(160);
    expect(wake!.shareOfCores).toBeNull();
  });

  it.each([
    { given: 'no phase of that name', read: () => wakeCpu(phases, WAKE_PHASES.timers, 1000, here) },
    { given: 'no expiry', read: () => wakeCpu(phases, WAKE_PHASES.windows, 0, here) },
    { given: 'no cores', read: () => wakeCpu(phases, WAKE_PHASES.windows, 1000, { cores: 0, wholeStackHere: true }) },
    {
      given: 'a phase of no time',
      read: () => wakeCpu([phase(`${WAKE_PHASES.windows}: 1`, 0, { service: 1 })], WAKE_PHASES.windows, 1, here),
    },
    {
      given: 'no process read (not Linux)',
      read: () => wakeCpu([phase(`${WAKE_PHASES.windows}: 1`, 10, {})], WAKE_PHASES.windows, 1, here),
    },
  ])('given $given, then there is no reading', ({ read }) => {
    expect(read()).toBeNull();
  });

  it("given both wakes' phases, when the figures are made, then each wake has its row per operation from the instant on, and the product's is a ratio to the raw timers'", () => {
    const timers = phase(`${WAKE_PHASES.timers}: 500 rows to write`, 10, { bench: 5, temporal: 5, postgres: 0 }, 1.5);
    const latency = { p50: 1, p95: 2, p99: 3, max: 4 };
    const rate = { count: 1, ok: 1, perSecond: 1, seconds: 1, latencyMs: latency };
    const rows = figures({
      concurrency: 2,
      machine: here,
      baseline: {
        workflowStarts: rate,
        signalsAcknowledged: rate,
        signalsProcessed: { count: 1, processed: 1, seconds: 1, perSecond: 1 },
        updateWithStart: rate,
        inserts: rate,
        // 500 started, 100 of them after the instant: written before it, at once
        timers: { count: 600, written: 600, secondsAfterInstant: 8, writtenAtInstant: 100, startedLate: 100 },
      },
      product: {
        signups: { ...rate, retried: 0 },
        ingestFull: { ...rate, concurrency: 2, retried: 0 },
        ingestHalf: { ...rate, concurrency: 1, retried: 0 },
        deliveryFull: { count: 1, applied: 1, seconds: 1, perSecond: 1 },
        deliveryHalf: { count: 1, applied: 1, seconds: 1, perSecond: 1 },
        lifecycle: { count: 1, completed: 1, latencyMs: latency, terms: { rewardHold: '0', lateEventGrace: '0' } },
        massExpiry: {
          count: 1000,
          expired: 1000,
          qualificationWindowSeconds: 60,
          creationSeconds: 50,
          createdLate: 0,
          expiredAtInstant: 0,
          secondsAfterInstant: 99,
        },
        openReferrals: 1,
        historyEvents: { open: 10, completed: 30, sampled: 2 },
      },
      footprint: {
        openReferrals: 1,
        serviceRssBytes: 1,
        servicePeakRssBytes: 1,
        referrals: 1,
        postgresBytes: 1,
        postgresEmptyBytes: 0,
        postgresBytesPerReferral: 1,
        phases: [timers, ...phases],
      },
    });
    const raw = rows.find((r) => r.figure === 'raw timers: CPU per timer after the instant');
    const product = rows.find((r) => r.figure === 'mass expiry: CPU per expiry after the instant');
    expect(raw).toMatchObject({ section: 'baseline', value: 20, ratio: null });
    expect(raw!.shown).toBe('20.0 ms (Temporal 10.0, bench 10.0); the stack 50% of the cores, load 1.5, over 10.0 s');
    expect(product).toMatchObject({ section: 'product', value: 160, baseline: 'raw timers', ratio: 8 });
    expect(product!.shown).toBe(
      '160.0 ms (service 60.0, Temporal 80.0, PostgreSQL 20.0); the stack 80% of the cores, load 1.9, over 100.0 s',
    );
  });
});
