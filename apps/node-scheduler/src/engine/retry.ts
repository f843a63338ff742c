import {
  EngineError,
  type EngineAdapter,
  type EngineRequest,
  type EngineResult,
  type EngineSink,
} from "./engine-adapter";
import { toEngineError } from "./error-mapping";

/**
 * Retry policy for engine calls: a call is retried only when (1) its error is retryable
 * (engine unreachable, HTTP 429/502/503/504, 408) and (2) nothing was streamed to the client yet,
 * so a retry can never duplicate output. Waits `backoffMs * 2^attempt` between attempts.
 */
export interface RetryPolicy {
  /** Extra attempts after the first (0 = no retries). */
  retries: number;
  backoffMs: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `engine.generate` under `policy`; the final error says how many attempts were made. */
export async function generateWithRetry(
  engine: EngineAdapter,
  req: EngineRequest,
  sink: EngineSink,
  signal: AbortSignal,
  policy: RetryPolicy,
  onRetry?: (attempt: number, err: EngineError) => void,
): Promise<EngineResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await engine.generate(req, sink, signal);
    } catch (raw) {
      const err = toEngineError(raw, "", false);
      const canRetry = err.retryable && !err.streamed && attempt < policy.retries && !signal.aborted;
      if (!canRetry) {
        if (attempt === 0 || err.streamed || !err.retryable) throw err;
        throw new EngineError(
          err.code,
          `${err.message} (gave up after ${attempt + 1} attempts)`,
          err.retryable,
          err.streamed,
        );
      }
      onRetry?.(attempt + 1, err);
      await sleep(policy.backoffMs * 2 ** attempt, signal);
      if (signal.aborted) throw new EngineError("CANCELLED", "engine call cancelled", false);
    }
  }
}
