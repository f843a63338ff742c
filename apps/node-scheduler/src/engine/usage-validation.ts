import { EngineError, type EngineUsageReport } from "./engine-adapter";

/** Largest count the wire carries (`symphony.v1.Usage` fields are uint32). */
export const MAX_ENGINE_COUNT = 0xffff_ffff;

/**
 * A count from the engine (token counts, usage fields): a finite, non-negative integer that fits
 * the wire's uint32. Anything else fails the turn (INTERNAL, not retryable: the same engine would
 * answer the same way) with a message naming the field, before it can reach the node's KV
 * accounting (a NaN there would wedge admission for every later turn).
 */
export function engineCount(value: unknown, field: string, streamed = false): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_ENGINE_COUNT)
    return value;
  const shown = typeof value === "number" ? String(value) : JSON.stringify(value);
  throw new EngineError(
    "INTERNAL",
    `engine sent ${field} = ${shown?.slice(0, 80) ?? String(value)}, expected a non-negative integer <= ${MAX_ENGINE_COUNT}`,
    false,
    streamed,
  );
}

/** An optional count: absent or null is `fallback`, anything else must be a valid count. */
function optionalCount(value: unknown, field: string, streamed: boolean, fallback = 0): number {
  return value === undefined || value === null ? fallback : engineCount(value, field, streamed);
}

/**
 * The usage object of an OpenAI-compatible response (`usage` of the last SSE chunk), checked
 * field by field. Missing fields count as 0 (as before); present ones must be valid counts, and
 * cached tokens cannot exceed the prompt. `streamed`: output already reached the client.
 */
export function usageFromEngine(raw: unknown, streamed: boolean): EngineUsageReport {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new EngineError(
      "INTERNAL",
      `engine sent usage = ${JSON.stringify(raw)?.slice(0, 80)}, expected an object`,
      false,
      streamed,
    );
  const u = raw as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: unknown;
  };
  const promptTokens = optionalCount(u.prompt_tokens, "usage.prompt_tokens", streamed);
  const completionTokens = optionalCount(u.completion_tokens, "usage.completion_tokens", streamed);
  const details = u.prompt_tokens_details;
  const cachedTokens =
    typeof details === "object" && details !== null
      ? optionalCount(
          (details as { cached_tokens?: unknown }).cached_tokens,
          "usage.prompt_tokens_details.cached_tokens",
          streamed,
        )
      : 0;
  if (cachedTokens > promptTokens)
    throw new EngineError(
      "INTERNAL",
      `engine sent usage.prompt_tokens_details.cached_tokens = ${cachedTokens}, more than usage.prompt_tokens = ${promptTokens}`,
      false,
      streamed,
    );
  return { promptTokens, completionTokens, cachedTokens };
}
