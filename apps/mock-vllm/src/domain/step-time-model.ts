import { kvBytesPerToken, type EngineProfile } from "./profiles";

/** What one engine step computes, as the scheduler decided it. */
export interface StepShape {
  /** New prompt tokens computed this step (chunked prefill, summed over requests). */
  readonly prefillTokens: number;
  /**
   * Σ over prefill chunks of chunkTokens × (tokens already in context + chunkTokens / 2): the
   * number of query-key pairs the prefill attention computes.
   */
  readonly prefillAttentionPairs: number;
  /** Requests decoding one token this step. */
  readonly decodeSeqs: number;
  /** KV tokens the decode attention reads: Σ context length over decoding requests. */
  readonly kvTokensRead: number;
  /** Requests in the batch (prefill + decode), for the per-sequence CPU cost. */
  readonly numSeqs: number;
}

/**
 * Step-time coefficients, all in microseconds. Derived from a profile by `coefficientsFor`,
 * overridable one by one from flags.
 */
export interface StepTimeCoefficients {
  /** Fixed cost of every step (CPU scheduling, kernel launches, all-reduce latency). */
  readonly stepOverheadUs: number;
  /** Extra cost per sequence in the batch. */
  readonly perSeqUs: number;
  /** Time to stream every weight from HBM once: the floor of any step. */
  readonly weightReadUs: number;
  /** HBM time per KV-cache token read by decode attention. */
  readonly kvReadUsPerToken: number;
  /** Compute time per token through the dense layers (2 × params FLOPs). */
  readonly prefillUsPerToken: number;
  /** Compute time per attention query-key pair in prefill (4 × layers × hidden FLOPs). */
  readonly attentionUsPerPair: number;
}

/** Roofline coefficients for a profile: bandwidth and FLOP/s scaled by MBU/MFU and the TP degree. */
export function coefficientsFor(profile: EngineProfile): StepTimeCoefficients {
  const { model, gpu, tensorParallel: tp } = profile;
  const bytesPerUs = (gpu.memBandwidthGBs * 1e9 * profile.mbu * tp) / 1e6;
  const flopsPerUs = (gpu.peakTflops * 1e12 * profile.mfu * tp) / 1e6;
  return {
    stepOverheadUs: profile.stepOverheadUs,
    perSeqUs: profile.perSeqUs,
    weightReadUs: (model.params * model.dtypeBytes) / bytesPerUs,
    kvReadUsPerToken: kvBytesPerToken(model) / bytesPerUs,
    prefillUsPerToken: (2 * model.params) / flopsPerUs,
    attentionUsPerPair: (4 * model.numLayers * model.hiddenSize) / flopsPerUs,
  };
}

/**
 * The duration of one engine step: a fixed overhead plus the larger of the memory time (weights
 * once, plus the KV cache decode attention reads) and the compute time (dense FLOPs for every
 * token in the batch, plus prefill attention). This is the roofline model: small decode batches
 * are bandwidth bound (step time ≈ weight read), large prefills are compute bound (time grows
 * with prompt tokens), and both share a step under chunked prefill, as in vLLM v1.
 */
export class StepTimeModel {
  constructor(readonly coefficients: StepTimeCoefficients) {}

  /** Modelled step duration in µs (before any time scaling); 0 for an empty step. */
  stepUs(shape: StepShape): number {
    if (shape.numSeqs === 0) return 0;
    const c = this.coefficients;
    const memoryUs = c.weightReadUs + c.kvReadUsPerToken * shape.kvTokensRead;
    const computeUs =
      c.prefillUsPerToken * (shape.prefillTokens + shape.decodeSeqs) +
      c.attentionUsPerPair * shape.prefillAttentionPairs;
    return c.stepOverheadUs + c.perSeqUs * shape.numSeqs + Math.max(memoryUs, computeUs);
  }

  /** Unloaded time to first token for a prompt of `promptTokens`, `cachedTokens` of them cached. */
  coldTtftUs(promptTokens: number, cachedTokens = 0): number {
    const n = Math.max(1, promptTokens - cachedTokens);
    return this.stepUs({
      prefillTokens: n,
      prefillAttentionPairs: n * (cachedTokens + n / 2),
      decodeSeqs: 0,
      kvTokensRead: 0,
      numSeqs: 1,
    });
  }

  /** Inter-token latency of a pure decode step with `running` sequences of `avgContext` tokens. */
  decodeItlUs(running: number, avgContext: number): number {
    return this.stepUs({
      prefillTokens: 0,
      prefillAttentionPairs: 0,
      decodeSeqs: running,
      kvTokensRead: running * avgContext,
      numSeqs: running,
    });
  }
}
