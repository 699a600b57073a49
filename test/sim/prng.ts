/**
 * The simulator's only source of randomness: xoshiro128** seeded through splitmix32.
 *
 * Why hand-written: the simulator needs a generator that is fast (tens of millions of
 * draws per minute), reproducible from one integer seed across Node versions, and
 * splittable so each Raft core gets its own stream. `Math.random` is none of these.
 */

/** A seeded pseudo-random stream. Every method advances the stream. */
export interface Prng {
  /** A uniform 32-bit unsigned integer. */
  next(): number;
  /** A uniform float in [0, 1) with 32 bits of resolution. */
  float(): number;
  /** A uniform integer in [0, n) for 0 < n <= 2^32. */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A uniform element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** A new independent stream seeded from this one (for a core's `random`). */
  fork(): Prng;
}

const TWO_32 = 4294967296;

/** splitmix32: spreads an integer seed into well-mixed 32-bit words for the state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Creates a xoshiro128** stream from a seed. Seeds are folded to 53-bit-safe integers;
 * the high and low halves both feed the state so that seeds above 2^32 differ.
 */
export function createPrng(seed: number): Prng {
  const sm = { s: (seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_32) | 0, 0x27d4eb2f) };
  let a = splitmix32(sm);
  let b = splitmix32(sm);
  let c = splitmix32(sm);
  let d = splitmix32(sm);
  // xoshiro must not start from the all-zero state.
  if ((a | b | c | d) === 0) a = 1;

  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };

  const prng: Prng = {
    next,
    float: () => next() / TWO_32,
    // Multiply-shift keeps the draw to one call; the bias (n / 2^32) is negligible here.
    int: (n) => Math.floor((next() / TWO_32) * n),
    chance: (p) => next() / TWO_32 < p,
    pick: (items) => items[Math.floor((next() / TWO_32) * items.length)] as (typeof items)[number],
    fork: () => createPrng(next() * 2097152 + (next() >>> 11)),
  };
  return prng;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
