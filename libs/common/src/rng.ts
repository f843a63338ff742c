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

/** FNV-1a's 32-bit offset basis: stream names are hashed with FNV-1a (`hashText`) into seeds. */
const FNV_OFFSET = 0x811c9dc5;

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
  return rngForStream(streamHash(seed, stream));
}

/**
 * The hash of a stream name's beginning, `${seed}:${prefix}`, for names hashed piece by piece
 * in hot paths that would otherwise format a name per use (mock-vllm's output plan: one stream
 * per prompt): `hashHex`, `hashText` and `hashDecimal` append their part's characters, and
 * `rngForStream` of the result equals `rngFor(seed, name)` of the whole name. E.g.
 * `rngForStream(hashDecimal(hashHex(streamHash(1, "x:"), 255), 7))` is `rngFor(1, "x:ff7")`.
 */
export function streamHash(seed: number, prefix: string): number {
  return hashText(FNV_OFFSET, `${seed}:${prefix}`);
}

/** The stream hash `h` continued with the characters of `text`. */
export function hashText(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** The stream hash `h` continued with `value.toString(16)` (value: an integer in [0, 2^32)). */
export function hashHex(h: number, value: number): number {
  let shift = 28;
  while (shift > 0 && value >>> shift === 0) shift -= 4;
  for (; shift >= 0; shift -= 4) h = Math.imul(h ^ HEX_CODES[(value >>> shift) & 15]!, 0x01000193);
  return h;
}

/** Character codes of the hexadecimal digits, lower case (as `toString(16)` writes them). */
const HEX_CODES = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** The stream hash `h` continued with `String(n)` (n: an integer in [0, 2^31)). */
export function hashDecimal(h: number, n: number): number {
  let p = 1;
  while (p * 10 <= n) p *= 10;
  for (; p >= 1; p /= 10) h = Math.imul(h ^ (0x30 + (Math.floor(n / p) % 10)), 0x01000193);
  return h;
}

/** `rngFor` of the stream whose name hashed to `h` (see `streamHash`). */
export function rngForStream(h: number): Rng {
  const mix = splitmix32(h);
  const state = [mix(), mix(), mix(), mix()];
  if ((state[0]! | state[1]! | state[2]! | state[3]!) === 0) state[0] = 1; // all-zero: xoroshiro's fixed point
  return new PureRng(xoroshiro128plusFromState(state));
}
