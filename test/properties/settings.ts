import fc from 'fast-check';

/**
 * How the property tests run. `npm test` runs a short pass with a fixed seed so a red run repeats; the environment
 * runs longer or replays what fast-check printed:
 *
 *   PROPERTY_RUNS=2000 npx vitest run test/properties                 every property this many cases
 *   PROPERTY_SEED=random npx vitest run test/properties               a new seed each run (printed on failure)
 *   PROPERTY_SEED=<seed> PROPERTY_PATH=<path> npx vitest run test/properties/<file> -t '<name>'   replay one case
 *
 * A failure's message carries `{ seed, path }`: the path only makes sense for the property that printed it, hence -t.
 */

const FIXED_SEED = 20_261_125;

function seedFromEnv(): number {
  const raw = process.env.PROPERTY_SEED;
  if (raw === undefined || raw === '') return FIXED_SEED;
  // fast-check takes 32-bit seeds; a random one is still printed with the failure.
  if (raw === 'random') return (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`PROPERTY_SEED must be an integer or "random", not ${raw}`);
  return seed;
}

function runsFromEnv(): number | undefined {
  const raw = process.env.PROPERTY_RUNS;
  if (raw === undefined || raw === '') return undefined;
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`PROPERTY_RUNS must be a positive integer, not ${raw}`);
  return runs;
}

export const propertySeed = seedFromEnv();
const runsOverride = runsFromEnv();

/** The cases a property runs: its own short default, unless PROPERTY_RUNS says. */
export const runsOf = (defaultRuns: number): number => runsOverride ?? defaultRuns;

/** fast-check's parameters for one property. */
export function params<T>(defaultRuns: number): fc.Parameters<T> {
  const path = process.env.PROPERTY_PATH;
  return {
    seed: propertySeed,
    numRuns: runsOf(defaultRuns),
    ...(path ? { path, endOnFailure: true } : {}),
  };
}

/**
 * A vitest timeout for a property: what its default runs need on a slow machine, scaled with PROPERTY_RUNS so a long
 * run is not cut off by the suite's per-test limit.
 */
export const timeoutFor = (defaultRuns: number, msPerRun: number): number =>
  Math.max(60_000, runsOf(defaultRuns) * msPerRun * 3);

export const assertProperty = <T>(property: fc.IProperty<T>, defaultRuns: number): void =>
  fc.assert(property, params<T>(defaultRuns));

export const assertAsyncProperty = <T>(property: fc.IAsyncProperty<T>, defaultRuns: number): Promise<void> =>
  fc.assert(property, params<T>(defaultRuns));
