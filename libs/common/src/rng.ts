import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/** A seeded source of randomness. Domain code never calls Math.random. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /**
   * Uniform integer in [0, n) from one raw 32-bit draw scaled to n (bias below n / 2^32): the
   * cheapest draw, for per-token hot loops; several times cheaper than `int`, whose exact range
   * handling they do not need.
   */
  index(n: number): number;
}

const TWO_POW_32 = 2 ** 32;

class PureRng implements Rng {
  constructor(private readonly gen: RandomGenerator) {}
  next(): number {
    return uniformFloat64(this.gen);
  }
  int(min: number, max: number): number {
    return uniformInt(this.gen, min, max);
  }
  index(n: number): number {
    return Math.floor(((this.gen.next() >>> 0) * n) / TWO_POW_32);
  }
}

/** FNV-1a 32-bit, to derive independent stream seeds from names. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32: spreads a 32-bit value over the whole state so near seeds give unrelated streams. */
function splitmix32(state: number): () => number {
  let z = state >>> 0;
  return () => {
    z = (z + 0x9e3779b9) | 0;
    let t = z ^ (z >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) | 0;
  };
}

/**
 * An independent random stream for one purpose, e.g. `rngFor(seed, "workloadgen.arrivals")`.
 * Adding a consumer of randomness elsewhere never shifts this stream's values.
 *
 * The 128-bit xoroshiro state is filled by splitmix32 from a hash of seed and stream name:
 * pure-rand's `xoroshiro128plus(seed)` leaves most state bits constant, which made the first
 * draws of a stream visibly correlated.
 */
export function rngFor(seed: number, stream: string): Rng {
  const mix = splitmix32(fnv1a(`${seed}:${stream}`));
  const state = [mix(), mix(), mix(), mix()];
  if ((state[0]! | state[1]! | state[2]! | state[3]!) === 0) state[0] = 1; // all-zero: xoroshiro's fixed point
  return new PureRng(xoroshiro128plusFromState(state));
}
