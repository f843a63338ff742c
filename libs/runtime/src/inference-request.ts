import type { ChatRole } from "@symphony/common";
import { Priority, Role, type InferenceRequest } from "./gen/symphony/v1/inference";

/** OpenAI role names of the wire's Role enum (ROLE_UNSPECIFIED has none). */
export const ROLE_NAMES: Readonly<Partial<Record<Role, ChatRole>>> = {
  [Role.ROLE_SYSTEM]: "system",
  [Role.ROLE_USER]: "user",
  [Role.ROLE_ASSISTANT]: "assistant",
  [Role.ROLE_TOOL]: "tool",
};

/** Largest max_output_tokens accepted; larger values are almost certainly a client bug (e.g. -1 as uint32). */
export const MAX_OUTPUT_TOKENS_LIMIT = 1_000_000;
const MAX_PLAUSIBLE_PROMPT_TOKENS = 100_000_000;
const PRIORITIES: readonly number[] = [
  Priority.PRIORITY_UNSPECIFIED,
  Priority.PRIORITY_HIGH,
  Priority.PRIORITY_NORMAL,
  Priority.PRIORITY_LOW,
];

/**
 * Checks an InferenceRequest, the same way at the scheduler and at every node; returns a message
 * naming the first bad field, or undefined when it is valid (answered as INVALID_ARGUMENT).
 * uint32 fields cannot be negative on the wire: a client's -1 arrives as 4294967295, so huge
 * values are rejected too.
 */
export function validateInferenceRequest(req: InferenceRequest): string | undefined {
  if (!req.requestId) return "request_id: required (a non-empty string)";
  if (!req.sessionId) return "session_id: required (a non-empty string)";
  if (req.maxOutputTokens <= 0) return `max_output_tokens: must be > 0, got ${req.maxOutputTokens}`;
  if (req.maxOutputTokens > MAX_OUTPUT_TOKENS_LIMIT) {
    return `max_output_tokens: must be <= ${MAX_OUTPUT_TOKENS_LIMIT}, got ${req.maxOutputTokens} (a negative number sent as uint32?)`;
  }
  if (req.promptTokens > MAX_PLAUSIBLE_PROMPT_TOKENS) {
    return `prompt_tokens: ${req.promptTokens} is not a plausible token count (a negative number sent as uint32?)`;
  }
  const hasMessages = req.messages.length > 0;
  const hasPrompt = req.prompt !== "";
  if (hasMessages && hasPrompt) return "messages/prompt: set exactly one, got both";
  if (!hasMessages && !hasPrompt) {
    return "messages/prompt: set exactly one (the conversation or a raw prompt), got neither";
  }
  for (const [i, m] of req.messages.entries()) {
    if (ROLE_NAMES[m.role] === undefined) {
      return `messages[${i}].role: expected ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL, got ${m.role}`;
    }
  }
  if (!PRIORITIES.includes(req.priority)) return `priority: unknown value ${req.priority}`;
  return undefined;
}
