import { Priority, ROLE_NAMES, type InferenceRequest } from "@symphony/runtime";
import type { PriorityClass } from "../domain";
import type { EngineRequest } from "../engine/engine-adapter";

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
