/**
 * Which prompt prefixes a stock vLLM holds, per tier, rebuilt from its KV events.
 *
 * Blocks are keyed as llm-d's indexer keys them: by our own chain over token ids
 * (key_i = H(key_{i-1}, tokens of block i), fixed root), never by the engine's hash values, so no
 * vLLM hash settings (PYTHONHASHSEED, `--prefix-caching-hash-algo`) are needed. The engine's hashes
 * only link events: engine hash -> our key.
 */
import { hashKey } from "./codec";
import { MEDIUM_CPU, MEDIUM_GPU, type ExternalBlockHash, type KvCacheEvent } from "./types";

export interface ResidencyLookup {
  /** Tokens of the longest prefix whose full blocks are all on the GPU. */
  gpuTokens: number;
  /** Tokens of the longest prefix whose full blocks are all on the CPU tier. */
  cpuTokens: number;
  /**
   * What vLLM with CPU offload serves without recompute: the GPU prefix, extended by consecutive
   * CPU-resident blocks (the offloading connector looks the CPU tier up from where the GPU hit stops).
   */
  anyTokens: number;
}

export interface ResidencyStats {
  /** Distinct blocks (by content) on the GPU. */
  gpuBlocks: number;
  /** Distinct blocks (by content) on the CPU tier. */
  cpuBlocks: number;
  /** BlockStored events skipped because their parent hash was unknown (we cannot place them). */
  unknownParent: number;
  /** Removed hashes that were never stored (or already gone). */
  unknownRemoved: number;
  /** Hashes in hash-only BlockStored events (vLLM's offloading connector: token_ids=[]) never stored with tokens. */
  unknownStored: number;
  /** BlockStored events skipped as unusable: a block size other than the learned one, or token_ids not blocks × block size. */
  skippedStored: number;
}

/** Our key of the empty prefix. */
const ROOT_KEY = 0x9e3779b9;
const TWO_32 = 4294967296;

/**
 * Our block key: two independent 32-bit murmur-style lanes over (parent key, tokens), folded into
 * 53 bits so it is a plain `number` map key (collision odds ~ n²/2^54: 5e-5 at a million blocks).
 */
export function chainKey(parentKey: number, tokens: ArrayLike<number>, start: number, len: number): number {
  const lo = parentKey >>> 0;
  const hi = Math.floor(parentKey / TWO_32) | 0;
  let a = 0x243f6a88 ^ len;
  let b = 0x85a308d3 ^ Math.imul(len, 0x9e3779b1);
  a = laneA(laneA(a, lo), hi);
  b = laneB(laneB(b, lo), hi);
  for (let i = start, end = start + len; i < end; i++) {
    const t = tokens[i] as number;
    a = laneA(a, t);
    b = laneB(b, t);
  }
  a = fmixA(a ^ len);
  b = fmixB(b ^ len);
  return (b & 0x1fffff) * TWO_32 + (a >>> 0);
}

function laneA(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function laneB(h: number, k: number): number {
  k = Math.imul(k, 0x85ebca77);
  k = (k << 13) | (k >>> 19);
  k = Math.imul(k, 0x9e3779b1);
  h ^= k;
  h = (h << 17) | (h >>> 15);
  return (Math.imul(h, 0x27d4eb2f) + 0x165667b1) | 0;
}

function fmixA(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function fmixB(h: number): number {
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  return h ^ (h >>> 15);
}

/** One engine hash: the block (our key) it names and the media holding it, as bits. */
interface EngineBlock {
  key: number;
  media: number;
}

/** Per our key: how many engine hashes hold it on each tier (several LoRAs/extra keys may share content). */
interface Residency {
  gpu: number;
  cpu: number;
}

const GPU_BIT = 1;
const CPU_BIT = 2;

export class KvResidencyIndex {
  private knownBlockSize: number | null;
  private readonly engine = new Map<string, EngineBlock>();
  private readonly residency = new Map<number, Residency>();
  private readonly mediumBits = new Map<string, number>([
    [MEDIUM_GPU, GPU_BIT],
    [MEDIUM_CPU, CPU_BIT],
  ]);
  private gpuBlocks = 0;
  private cpuBlocks = 0;
  private unknownParent = 0;
  private unknownRemoved = 0;
  private unknownStored = 0;
  private skippedStored = 0;

  /** `blockSize`: the engine's `--block-size`; otherwise learned from the first BlockStored with tokens. */
  constructor(opts?: { blockSize?: number }) {
    this.knownBlockSize = opts?.blockSize ?? null;
  }

  get blockSize(): number | null {
    return this.knownBlockSize;
  }

  apply(events: readonly KvCacheEvent[]): void {
    for (const e of events) {
      if (e.type === "BlockStored") {
        if (e.tokenIds.length === 0) this.storeByHash(e.blockHashes, e.medium, e.blockSize);
        else this.store(e.blockHashes, e.parentBlockHash, e.tokenIds, e.blockSize, e.medium);
      } else if (e.type === "BlockRemoved") {
        const bit = this.bit(e.medium);
        for (const h of e.blockHashes) this.remove(hashKey(h), bit);
      } else if (e.type === "AllBlocksCleared") {
        this.clear();
      }
    }
  }

  /** Forgets every block (the counters of unknown hashes stay). */
  clear(): void {
    this.engine.clear();
    this.residency.clear();
    this.gpuBlocks = 0;
    this.cpuBlocks = 0;
  }

  lookup(tokenIds: ArrayLike<number>): ResidencyLookup {
    const bs = this.knownBlockSize;
    if (bs === null || bs <= 0) return { gpuTokens: 0, cpuTokens: 0, anyTokens: 0 };
    const blocks = Math.floor(tokenIds.length / bs);
    let gpu = 0;
    let cpu = 0;
    let any = 0;
    let gpuRun = true;
    let cpuRun = true;
    let key = ROOT_KEY;
    for (let i = 0; i < blocks; i++) {
      key = chainKey(key, tokenIds, i * bs, bs);
      const r = this.residency.get(key);
      const onGpu = r !== undefined && r.gpu > 0;
      const onCpu = r !== undefined && r.cpu > 0;
      if (gpuRun && onGpu) gpu++;
      else gpuRun = false;
      if (cpuRun && onCpu) cpu++;
      else cpuRun = false;
      // `any` is the GPU run, then the CPU run that follows it.
      if (gpuRun || onCpu) any++;
      else break;
    }
    return { gpuTokens: gpu * bs, cpuTokens: cpu * bs, anyTokens: any * bs };
  }

  stats(): ResidencyStats {
    return {
      gpuBlocks: this.gpuBlocks,
      cpuBlocks: this.cpuBlocks,
      unknownParent: this.unknownParent,
      unknownRemoved: this.unknownRemoved,
      unknownStored: this.unknownStored,
      skippedStored: this.skippedStored,
    };
  }

  private store(
    hashes: readonly ExternalBlockHash[],
    parent: ExternalBlockHash | null,
    tokens: readonly number[],
    blockSize: number,
    medium: string | null,
  ): void {
    if (this.knownBlockSize === null && blockSize > 0) this.knownBlockSize = blockSize;
    if (blockSize !== this.knownBlockSize || tokens.length !== hashes.length * blockSize) {
      this.skippedStored++;
      return;
    }
    let key: number;
    if (parent === null) key = ROOT_KEY;
    else {
      const p = this.engine.get(hashKey(parent));
      if (p === undefined) {
        this.unknownParent++;
        return;
      }
      key = p.key;
    }
    const bit = this.bit(medium);
    for (let j = 0; j < hashes.length; j++) {
      key = chainKey(key, tokens, j * blockSize, blockSize);
      const hk = hashKey(hashes[j] as ExternalBlockHash);
      let b = this.engine.get(hk);
      if (b !== undefined && b.key !== key) {
        // The engine reused a hash for other content: the old block is gone.
        this.dropMedia(b.key, b.media);
        b = undefined;
      }
      if (b === undefined) {
        b = { key, media: 0 };
        this.engine.set(hk, b);
      }
      if ((b.media & bit) === 0) {
        b.media |= bit;
        this.addMedia(key, bit);
      }
    }
  }

  /** vLLM's offloading connector stores by hash alone (token_ids=[]): the hash names a block we know. */
  private storeByHash(hashes: readonly ExternalBlockHash[], medium: string | null, blockSize: number): void {
    if (blockSize !== 0 && this.knownBlockSize !== null && blockSize !== this.knownBlockSize) {
      // An offloaded block spanning several GPU blocks: not supported (vLLM's default offload block size is the GPU's).
      this.skippedStored++;
      return;
    }
    const bit = this.bit(medium);
    for (const h of hashes) {
      const b = this.engine.get(hashKey(h));
      if (b === undefined) {
        this.unknownStored++;
        continue;
      }
      if ((b.media & bit) === 0) {
        b.media |= bit;
        this.addMedia(b.key, bit);
      }
    }
  }

  private remove(hk: string, bit: number): void {
    const b = this.engine.get(hk);
    if (b === undefined || (b.media & bit) === 0) {
      this.unknownRemoved++;
      return;
    }
    b.media &= ~bit;
    this.dropMedia(b.key, bit);
    if (b.media === 0) this.engine.delete(hk);
  }

  private addMedia(key: number, bits: number): void {
    if ((bits & (GPU_BIT | CPU_BIT)) === 0) return;
    let r = this.residency.get(key);
    if (r === undefined) {
      r = { gpu: 0, cpu: 0 };
      this.residency.set(key, r);
    }
    if (bits & GPU_BIT && r.gpu++ === 0) this.gpuBlocks++;
    if (bits & CPU_BIT && r.cpu++ === 0) this.cpuBlocks++;
  }

  private dropMedia(key: number, bits: number): void {
    const r = this.residency.get(key);
    if (r === undefined) return;
    if (bits & GPU_BIT && r.gpu > 0 && --r.gpu === 0) this.gpuBlocks--;
    if (bits & CPU_BIT && r.cpu > 0 && --r.cpu === 0) this.cpuBlocks--;
    if (r.gpu === 0 && r.cpu === 0) this.residency.delete(key);
  }

  /** null is GPU; other media than GPU/CPU get their own bit so their removals pair up, but don't count. */
  private bit(medium: string | null): number {
    const name = medium ?? MEDIUM_GPU;
    let bit = this.mediumBits.get(name);
    if (bit === undefined) {
      bit = this.mediumBits.size < 30 ? 1 << this.mediumBits.size : 1 << 30;
      this.mediumBits.set(name, bit);
    }
    return bit;
  }
}
