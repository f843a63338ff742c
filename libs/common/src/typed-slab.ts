/** Bytes of one slab: tens of a simulation's per-request arrays (a prompt's ids, an answer's). */
const DEFAULT_SLAB_BYTES = 64 * 1024;

/**
 * Typed arrays cut one after another from shared ArrayBuffers ("slabs"), for the many arrays of
 * a simulation that each live as long as one request: a prompt's token ids, its answer's, its
 * tokens' arrival times. `new Int32Array(n)` allocates a buffer outside the heap every time
 * (malloc, zeroing, and an entry the garbage collector tracks and sweeps), several times the cost
 * of a view on a buffer already there.
 *
 * An array handed out is zero-filled and has the asked length, like a new one; only its `buffer`
 * and `byteOffset` tell it apart. A slab is freed once none of its arrays is referenced: arrays
 * cut one after another belong to requests made one after another, which end about together, so
 * little memory outlives its arrays (at worst a whole slab per array still referenced: 64 KiB
 * per request that outlives its neighbours). An array of more than an eighth of a slab gets a
 * buffer of its own. Slab space is never reused, so no array ever sees another's values.
 */
export class TypedArraySlab {
  private slab: ArrayBuffer;
  /** Bytes of `slab` handed out. */
  private used = 0;
  private readonly ownBufferBytes: number;

  constructor(private readonly slabBytes = DEFAULT_SLAB_BYTES) {
    if (!Number.isInteger(slabBytes) || slabBytes < 64 || slabBytes % 8 !== 0)
      throw new RangeError(`slab bytes must be a multiple of 8, at least 64, got ${slabBytes}`);
    this.slab = new ArrayBuffer(slabBytes);
    this.ownBufferBytes = slabBytes / 8;
  }

  /** A zero-filled Int32Array of `length` elements. */
  int32(length: number): Int32Array {
    checkLength(length);
    const bytes = length * 4;
    if (bytes > this.ownBufferBytes) return new Int32Array(length);
    const at = this.take(bytes); // first: it may replace the slab
    return new Int32Array(this.slab, at, length);
  }

  /** A zero-filled Float64Array of `length` elements. */
  float64(length: number): Float64Array {
    checkLength(length);
    const bytes = length * 8;
    if (bytes > this.ownBufferBytes) return new Float64Array(length);
    const at = this.take(bytes); // first: it may replace the slab
    return new Float64Array(this.slab, at, length);
  }

  /** The offset of `bytes` new bytes in `slab` (8-byte aligned, so any element type fits). */
  private take(bytes: number): number {
    const start = (this.used + 7) & ~7;
    if (start + bytes <= this.slabBytes) {
      this.used = start + bytes;
      return start;
    }
    this.slab = new ArrayBuffer(this.slabBytes);
    this.used = bytes;
    return 0;
  }
}

/** Before any space is taken: a bad length must not move the slab's cursor (arrays would overlap). */
function checkLength(length: number): void {
  if (!Number.isInteger(length) || length < 0)
    throw new RangeError(`typed array length must be a non-negative integer, got ${length}`);
}
