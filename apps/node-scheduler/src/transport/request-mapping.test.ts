import { InferenceRequest, Priority, Role } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { priorityClassOf, toEngineRequest } from "./request-mapping";

const valid = InferenceRequest.fromPartial({
  requestId: "r",
  sessionId: "s",
  maxOutputTokens: 8,
  messages: [{ role: Role.ROLE_USER, content: "hi" }],
});

describe("request mapping", () => {
  it.each([
    [Priority.PRIORITY_UNSPECIFIED, "normal"],
    [Priority.PRIORITY_HIGH, "high"],
    [Priority.PRIORITY_NORMAL, "normal"],
    [Priority.PRIORITY_LOW, "low"],
  ])("priority %i -> class %s", (p, cls) => {
    expect(priorityClassOf(p)).toBe(cls);
  });

  it("chat request -> roles as OpenAI strings, expected_response carried", () => {
    const req = {
      ...valid,
      expectedResponse: "ok",
      messages: [
        { role: Role.ROLE_SYSTEM, content: "s" },
        { role: Role.ROLE_USER, content: "u" },
        { role: Role.ROLE_ASSISTANT, content: "a" },
        { role: Role.ROLE_TOOL, content: "t" },
      ],
    };
    const e = toEngineRequest(req);
    expect(e.messages?.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool"]);
    expect(e.prompt).toBeUndefined();
    expect(e.expectedResponse).toBe("ok");
  });

  it("prompt request -> completion with the prompt", () => {
    const req = { ...valid, messages: [], prompt: "Once upon a time" };
    const e = toEngineRequest(req);
    expect(e.prompt).toBe("Once upon a time");
    expect(e.messages).toBeUndefined();
  });
});
