import type { InferenceRequest } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { validateInferenceRequest } from "./validate";

const ok: InferenceRequest = {
  requestId: "r",
  clientId: "c",
  sessionId: "s",
  turnIndex: 0,
  messages: [{ role: 2, content: "hi" }],
  prompt: "",
  promptTokens: 0,
  maxOutputTokens: 16,
  stream: true,
  priority: 0,
  isLast: false,
  ignoreEos: false,
  deadlineMs: 0,
  model: "",
  parentSessionId: "",
};

describe("validateInferenceRequest", () => {
  it("well-formed chat request -> undefined", () => {
    expect(validateInferenceRequest(ok)).toBeUndefined();
  });

  it("raw prompt instead of messages -> undefined", () => {
    expect(validateInferenceRequest({ ...ok, messages: [], prompt: "once upon" })).toBeUndefined();
  });

  it.each([
    ["no session id", { sessionId: "" }, /^session_id:/],
    ["zero max_output_tokens", { maxOutputTokens: 0 }, /^max_output_tokens: must be > 0/],
    ["-1 as uint32", { maxOutputTokens: 4294967295 }, /^max_output_tokens: must be <=/],
    ["absurd prompt_tokens", { promptTokens: 4294967295 }, /^prompt_tokens:/],
    ["both messages and prompt", { prompt: "x" }, /^messages\/prompt: set one, not both/],
    ["neither messages nor prompt", { messages: [] }, /^messages\/prompt: one is required/],
  ])("%s -> message naming the field", (_name, patch, message) => {
    expect(validateInferenceRequest({ ...ok, ...patch })).toMatch(message);
  });
});
