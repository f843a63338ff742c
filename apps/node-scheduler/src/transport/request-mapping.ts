import { Priority, Role, type InferenceRequest } from "@symphony/common";
import type { PriorityClass } from "../domain";
import type { EngineRequest } from "../engine/engine-adapter";

const ROLE_NAMES: Partial<Record<number, "system" | "user" | "assistant" | "tool">> = {
  [Role.ROLE_SYSTEM]: "system",
  [Role.ROLE_USER]: "user",
  [Role.ROLE_ASSISTANT]: "assistant",
  [Role.ROLE_TOOL]: "tool",
};

/**
 * Checks an InferenceRequest; returns a message naming the first bad field, or undefined when
 * it is valid. (Answered as INVALID_ARGUMENT.)
 */
export function validateInferenceRequest(req: InferenceRequest): string | undefined {
  if (!req.requestId) return "request_id: required (non-empty)";
  if (!req.sessionId) return "session_id: required (non-empty)";
  if (req.maxOutputTokens <= 0) return "max_output_tokens: required, must be > 0";
  const hasMessages = req.messages.length > 0;
  const hasPrompt = req.prompt !== "";
  if (hasMessages && hasPrompt) return "messages, prompt: set exactly one, got both";
  if (!hasMessages && !hasPrompt) return "messages, prompt: set exactly one, got neither";
  for (const [i, m] of req.messages.entries()) {
    if (ROLE_NAMES[m.role] === undefined) {
      return `messages[${i}].role: expected ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT or ROLE_TOOL, got ${m.role}`;
    }
  }
  if (![0, 1, 2, 3].includes(req.priority)) return `priority: unknown value ${req.priority}`;
  return undefined;
}

/** Wire priority -> scheduling class (UNSPECIFIED = NORMAL). */
export function priorityClassOf(priority: Priority): PriorityClass {
  if (priority === Priority.PRIORITY_HIGH) return "high";
  if (priority === Priority.PRIORITY_LOW) return "low";
  return "normal";
}

/** Wire request -> engine request (chat when it has messages, completion otherwise). */
export function toEngineRequest(req: InferenceRequest): EngineRequest {
  const base = {
    requestId: req.requestId,
    sessionId: req.sessionId,
    model: req.model,
    maxTokens: req.maxOutputTokens,
    ignoreEos: req.ignoreEos,
    expectedResponse: req.expectedResponse,
  };
  if (req.messages.length > 0) {
    return {
      ...base,
      messages: req.messages.map((m) => ({ role: ROLE_NAMES[m.role]!, content: m.content })),
    };
  }
  return { ...base, prompt: req.prompt };
}
