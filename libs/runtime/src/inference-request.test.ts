import { describe, expect, it } from "vitest";
import { InferenceRequest, Priority, Role } from "./gen/symphony/v1/inference";
import { validateInferenceRequest } from "./inference-request";

const valid = InferenceRequest.fromPartial({
  requestId: "r",
  sessionId: "s",
  maxOutputTokens: 8,
  messages: [{ role: Role.ROLE_USER, content: "hi" }],
});

describe("validateInferenceRequest", () => {
  it("well-formed chat request -> undefined", () => {
    expect(validateInferenceRequest(valid)).toBeUndefined();
  });

  it("raw prompt instead of messages -> undefined", () => {
    expect(validateInferenceRequest({ ...valid, messages: [], prompt: "once upon" })).toBeUndefined();
  });

  it.each<[string, Partial<InferenceRequest>, RegExp]>([
    ["no request_id", { requestId: "" }, /^request_id: required/],
    ["no session_id", { sessionId: "" }, /^session_id: required/],
    ["zero max_output_tokens", { maxOutputTokens: 0 }, /^max_output_tokens: must be > 0/],
    ["-1 as uint32", { maxOutputTokens: 4294967295 }, /^max_output_tokens: must be <=/],
    ["absurd prompt_tokens", { promptTokens: 4294967295 }, /^prompt_tokens:/],
    ["both messages and prompt", { prompt: "x" }, /^messages\/prompt: set exactly one, got both/],
    ["neither messages nor prompt", { messages: [] }, /^messages\/prompt: .* got neither/],
    [
      "unspecified role",
      { messages: [{ role: Role.ROLE_UNSPECIFIED, content: "x" }] },
      /^messages\[0\]\.role/,
    ],
    ["unknown priority", { priority: 9 as Priority }, /^priority: unknown value 9/],
  ])("%s -> message naming the field", (_name, patch, message) => {
    expect(validateInferenceRequest({ ...valid, ...patch })).toMatch(message);
  });
});
