/** gRPC status code names the node reports in TurnError.code. */
export type GrpcCodeName =
  | "CANCELLED"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE";

/** One turn as an engine sees it (OpenAI-style). Exactly one of `messages` / `prompt` is set. */
export interface EngineRequest {
  requestId: string;
  sessionId: string;
  /** Model name; empty = the adapter resolves the engine's default. */
  model: string;
  messages?: { role: "system" | "user" | "assistant" | "tool"; content: string }[];
  prompt?: string;
  maxTokens: number;
  ignoreEos: boolean;
  /** Response the mock engine should replay (only sent when forwarding is enabled). */
  expectedResponse?: string;
  /**
   * Where the node found the session's KV ("gpu", "cpu", "evicted", "new"). Sent as the header
   * `x-symphony-kv-tier` so a mock engine could model restore cost; real vLLM ignores it.
   */
  kvTier?: string;
  /**
   * Tokens of the session's earlier context the node holds on the GPU (see Dispatch). Sent as
   * `x-symphony-resident-tokens`: mock-vllm's KV-connector model skips their prefill.
   */
  residentKvTokens?: number;
}

export interface EngineUsageReport {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export interface EngineResult {
  /** From the engine's final usage chunk; undefined when the engine sent none. */
  usage?: EngineUsageReport;
  /** "stop", "length", "abort", ... as the engine reported it ("" if it did not). */
  finishReason: string;
  /** Hand-off to first token / last token, µs. */
  ttftUs: number;
  e2eUs: number;
  /** Text pieces streamed (token events). */
  tokenEvents: number;
}

/** Receives generated text as it streams. */
export interface EngineSink {
  /** `tokenCount`: tokens in `text` (1 per non-empty SSE content chunk: vLLM streams one token per chunk). */
  onToken(text: string, tokenCount: number, reasoning?: boolean): void;
  /**
   * Back-pressure: a promise while the consumer's buffer is full (the adapter stops reading the
   * engine's stream until it settles, so TCP flow control slows the engine), else undefined.
   */
  drained?(): Promise<unknown> | undefined;
}

/** A failed engine call, already classified for the client. */
export class EngineError extends Error {
  constructor(
    readonly code: GrpcCodeName,
    message: string,
    /** Safe to retry the same turn (here or elsewhere). */
    readonly retryable: boolean,
    /** Some output already reached the client: never retried by the node. */
    readonly streamed = false,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

/** Engine load from its metrics endpoint; -1 = unknown. */
export interface EngineLoad {
  kvUsage: number;
  waiting: number;
  running: number;
  /** KV-cache capacity in tokens (vLLM's cache_config_info: num_gpu_blocks x block_size), when reported. */
  kvCacheTokens?: number;
}

/** A session's context so far (what its next turn's prompt starts with): chat messages or a prompt. */
export interface SessionContext {
  messages?: { role: "system" | "user" | "assistant" | "tool"; content: string }[];
  prompt?: string;
}

/** What the engine reported for a warm-up request. */
export interface WarmupResult {
  promptTokens: number;
  /** Prompt tokens it found cached (0 when the engine does not report them). */
  cachedTokens: number;
}

/**
 * A serving engine behind one interface. The OpenAI-HTTP adapter covers vLLM and mock-vllm;
 * other engines (or an in-process simulated engine) implement the same three calls.
 */
export interface EngineAdapter {
  /** Runs one turn, streaming text into `sink`. Rejects with EngineError; honours `signal`. */
  generate(req: EngineRequest, sink: EngineSink, signal: AbortSignal): Promise<EngineResult>;
  /** Model ids the engine serves, default first. */
  listModels(signal?: AbortSignal): Promise<string[]>;
  /** Current engine load, or undefined when it cannot be read. */
  readLoad(signal?: AbortSignal): Promise<EngineLoad | undefined>;
  /**
   * Sends `context` with one output token and no generation prompt, so the engine caches its KV
   * (hits stay, CPU-tier blocks load, the rest is computed) before the session's next turn.
   */
  warmup?(context: SessionContext, requestId: string, signal?: AbortSignal): Promise<WarmupResult>;
  /** The engine's token ids for `context` as the start of a prompt (vLLM's `POST /tokenize`). */
  tokenize?(context: SessionContext, signal?: AbortSignal): Promise<number[]>;
  close(): Promise<void>;
}
