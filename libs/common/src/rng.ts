import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/** A seeded source of randomness. Domain code never calls Math.random. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
}

class PureRng implements Rng {
  constructor(private readonly gen: RandomGenerator) {}
  next(): number {
    return uniformFloat64(this.gen);
  }
  int(min: number, max: number): number {
    return uniformInt(this.gen, min, max);
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

/**
 * An independent random stream for one purpose, e.g. `rngFor(seed, "workloadgen.arrivals")`.
 * Adding a consumer of randomness elsewhere never shifts this stream's values.
 */
export function rngFor(seed: number, stream: string): Rng {
  return new PureRng(xoroshiro128plus(fnv1a(`${seed}:${stream}`) | 0));
}
