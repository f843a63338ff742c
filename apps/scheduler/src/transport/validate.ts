import type { InferenceRequest } from "@symphony/common";

/** Largest max_output_tokens accepted; larger values are almost certainly a client bug (e.g. -1 as uint32). */
export const MAX_OUTPUT_TOKENS_LIMIT = 1_000_000;

/**
 * Checks a client's InferenceRequest; returns a message naming the bad field, or undefined.
 * uint32 fields cannot be negative on the wire: a client's -1 arrives as 4294967295, so huge
 * values are rejected too.
 */
export function validateInferenceRequest(req: InferenceRequest): string | undefined {
  if (!req.sessionId) return "session_id: required (a non-empty string)";
  if (req.maxOutputTokens <= 0) return `max_output_tokens: must be > 0, got ${req.maxOutputTokens}`;
  if (req.maxOutputTokens > MAX_OUTPUT_TOKENS_LIMIT)
    return `max_output_tokens: must be <= ${MAX_OUTPUT_TOKENS_LIMIT}, got ${req.maxOutputTokens} (a negative number sent as uint32?)`;
  if (req.promptTokens > 100_000_000)
    return `prompt_tokens: ${req.promptTokens} is not a plausible token count (a negative number sent as uint32?)`;
  const hasMessages = req.messages.length > 0;
  if (hasMessages && req.prompt) return "messages/prompt: set one, not both";
  if (!hasMessages && !req.prompt)
    return "messages/prompt: one is required (the conversation or a raw prompt)";
  return undefined;
}
