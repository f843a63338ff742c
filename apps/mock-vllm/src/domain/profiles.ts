/**
 * Named engine profiles: a model on a GPU setup, and the step-time coefficients derived from
 * them by a roofline argument. A decode step must read every weight once (memory bound), plus
 * the KV cache of every running sequence; prefill is compute bound (2 FLOPs per parameter per
 * token, plus attention over the context). Achieved fractions of the peak (MBU, MFU) and the
 * fixed per-step overhead are calibrated so that the results land near public vLLM figures;
 * see README "Profiles" for the figures each profile was checked against.
 */

/** One accelerator type, vendor datasheet figures. */
export interface GpuSpec {
  readonly name: string;
  /** Dense BF16 tensor-core peak, TFLOP/s (no sparsity). */
  readonly peakTflops: number;
  /** HBM bandwidth, GB/s (1e9 bytes). */
  readonly memBandwidthGBs: number;
  /** Memory per GPU, GiB. */
  readonly memGiB: number;
  /**
   * Achieved host-link (PCIe) bandwidth per direction per GPU for pinned-memory KV copies, GB/s:
   * an estimate, about 80 % of the link's theoretical rate (PCIe 5.0 x16: 64 GB/s, 4.0 x16:
   * 32 GB/s), as large cudaMemcpyAsync copies reach. Times the native CPU offload's copies.
   */
  readonly hostLinkGBs: number;
}

/** Transformer shape, from the model's Hugging Face config.json. */
export interface ModelSpec {
  readonly name: string;
  /** Parameter count. */
  readonly params: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** numAttentionHeads * headDim (query width), for prefill attention FLOPs. */
  readonly hiddenSize: number;
  /** Bytes per weight and per KV element (BF16 = 2). */
  readonly dtypeBytes: number;
  /** max_position_embeddings: vLLM's default --max-model-len. */
  readonly maxModelLen: number;
  /** The model's tokenizer (`loadTokenizer` spec): the mock's default --tokenizer. */
  readonly tokenizer: string;
}

export interface EngineProfile {
  readonly name: string;
  readonly description: string;
  readonly model: ModelSpec;
  readonly gpu: GpuSpec;
  readonly tensorParallel: number;
  /** Achieved fraction of peak HBM bandwidth in decode (model bandwidth utilisation). */
  readonly mbu: number;
  /** Achieved fraction of peak FLOP/s in prefill (model FLOP utilisation). */
  readonly mfu: number;
  /** Fixed CPU + launch cost of one engine step (scheduler, sampler, all-reduce latency), µs. */
  readonly stepOverheadUs: number;
  /** Per-sequence CPU cost in a step (input prep, sampling, detokenisation), µs. */
  readonly perSeqUs: number;
  /** Memory vLLM keeps for activations/CUDA graphs per GPU outside the KV cache, GiB. */
  readonly activationReserveGiB: number;
  /** vLLM's default --max-num-seqs for the API server on this GPU class. */
  readonly defaultMaxNumSeqs: number;
  /** vLLM's default --max-num-batched-tokens for the API server on this GPU class. */
  readonly defaultMaxNumBatchedTokens: number;
}

const H100_SXM: GpuSpec = {
  name: "H100-SXM5-80GB",
  peakTflops: 989.4,
  memBandwidthGBs: 3350,
  memGiB: 80,
  hostLinkGBs: 50, // PCIe 5.0 x16
};
const A100_SXM: GpuSpec = {
  name: "A100-SXM4-80GB",
  peakTflops: 312,
  memBandwidthGBs: 2039,
  memGiB: 80,
  hostLinkGBs: 25, // PCIe 4.0 x16
};

const LLAMA3_8B: ModelSpec = {
  name: "meta-llama/Llama-3.1-8B-Instruct",
  params: 8.03e9,
  numLayers: 32,
  numKvHeads: 8,
  headDim: 128,
  hiddenSize: 4096,
  dtypeBytes: 2,
  maxModelLen: 131072,
  tokenizer: "llama3",
};
const LLAMA2_13B: ModelSpec = {
  name: "meta-llama/Llama-2-13b-chat-hf",
  params: 13.0e9,
  numLayers: 40,
  numKvHeads: 40,
  headDim: 128,
  hiddenSize: 5120,
  dtypeBytes: 2,
  maxModelLen: 4096,
  tokenizer: "llama2",
};
const LLAMA3_70B: ModelSpec = {
  name: "meta-llama/Llama-3.1-70B-Instruct",
  params: 70.6e9,
  numLayers: 80,
  numKvHeads: 8,
  headDim: 128,
  hiddenSize: 8192,
  dtypeBytes: 2,
  maxModelLen: 131072,
  tokenizer: "llama3",
};

/** Every built-in profile by name. `llama3-8b-h100` is the default. */
export const PROFILES: Readonly<Record<string, EngineProfile>> = {
  "llama3-8b-h100": {
    name: "llama3-8b-h100",
    description: "Llama 3.1 8B BF16 on one H100 SXM",
    model: LLAMA3_8B,
    gpu: H100_SXM,
    tensorParallel: 1,
    mbu: 0.75,
    mfu: 0.5,
    stepOverheadUs: 400,
    perSeqUs: 4,
    activationReserveGiB: 2,
    defaultMaxNumSeqs: 1024,
    defaultMaxNumBatchedTokens: 8192,
  },
  "llama3-8b-a100": {
    name: "llama3-8b-a100",
    description: "Llama 3.1 8B BF16 on one A100 SXM 80GB",
    model: LLAMA3_8B,
    gpu: A100_SXM,
    tensorParallel: 1,
    mbu: 0.75,
    mfu: 0.55,
    stepOverheadUs: 500,
    perSeqUs: 5,
    activationReserveGiB: 2,
    defaultMaxNumSeqs: 256,
    defaultMaxNumBatchedTokens: 2048,
  },
  "llama2-13b-a100": {
    name: "llama2-13b-a100",
    description: "Llama 2 13B chat BF16 on one A100 SXM 80GB (no GQA: large KV per token)",
    model: LLAMA2_13B,
    gpu: A100_SXM,
    tensorParallel: 1,
    mbu: 0.75,
    mfu: 0.55,
    stepOverheadUs: 500,
    perSeqUs: 5,
    activationReserveGiB: 2,
    defaultMaxNumSeqs: 256,
    defaultMaxNumBatchedTokens: 2048,
  },
  "llama3-70b-h100": {
    name: "llama3-70b-h100",
    description: "Llama 3.1 70B BF16 on four H100 SXM, tensor parallel 4",
    model: LLAMA3_70B,
    gpu: H100_SXM,
    tensorParallel: 4,
    // TP splits weights but adds two all-reduces per layer per step: lower achieved fractions
    // and a larger fixed step cost.
    mbu: 0.65,
    mfu: 0.45,
    stepOverheadUs: 1500,
    perSeqUs: 6,
    activationReserveGiB: 3,
    defaultMaxNumSeqs: 1024,
    defaultMaxNumBatchedTokens: 8192,
  },
};

export const DEFAULT_PROFILE = "llama3-8b-h100";

/** KV-cache bytes one token occupies across all layers and GPUs (K and V). */
export function kvBytesPerToken(model: ModelSpec): number {
  return 2 * model.numLayers * model.numKvHeads * model.headDim * model.dtypeBytes;
}

/**
 * The number of KV blocks vLLM would allocate: per-GPU memory budget (`gpuMemoryUtilization`)
 * minus this GPU's share of the weights and the activation reserve, summed over the TP group,
 * divided by the bytes of one block. Mirrors vLLM's "# GPU blocks" start-up figure.
 */
export function deriveNumGpuBlocks(profile: EngineProfile, blockSize: number, gpuMemoryUtilization: number) {
  const gib = 1024 ** 3;
  const weightBytes = profile.model.params * profile.model.dtypeBytes;
  const perGpuFree =
    profile.gpu.memGiB * gib * gpuMemoryUtilization -
    weightBytes / profile.tensorParallel -
    profile.activationReserveGiB * gib;
  const total = perGpuFree * profile.tensorParallel;
  return Math.max(0, Math.floor(total / (blockSize * kvBytesPerToken(profile.model))));
}

/**
 * KV bytes per µs the native CPU offload copies in one direction: every tensor-parallel rank
 * copies its share of the KV over its own link, so the links add up.
 */
export function hostLinkBytesPerUs(profile: EngineProfile): number {
  return profile.gpu.hostLinkGBs * 1e3 * profile.tensorParallel;
}
