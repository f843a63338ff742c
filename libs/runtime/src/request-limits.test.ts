import { describe, expect, it } from "vitest";
import { InferenceRequest, Role } from "./gen/symphony/v1/inference";
import { DEFAULT_REQUEST_LIMITS, grpcReceiveLimit, requestSizeProblem } from "./request-limits";

const limits = { maxPromptBytes: 100, maxMessages: 3 };
const chat = (...contents: string[]) =>
  InferenceRequest.fromPartial({ messages: contents.map((content) => ({ role: Role.ROLE_USER, content })) });
const prompt = (text: string) => InferenceRequest.fromPartial({ prompt: text });

describe("requestSizeProblem", () => {
  it.each([
    ["a small chat", chat("hi", "there")],
    ["exactly the byte limit", prompt("x".repeat(100))],
    ["multi-byte text within the limit", prompt("é".repeat(50))],
    ["exactly the message limit", chat("a", "b", "c")],
  ])("%s -> accepted", (_name, req) => {
    expect(requestSizeProblem(req, limits, "this node")).toBeUndefined();
  });

  it.each([
    [
      "too many messages",
      chat("a", "b", "c", "d"),
      "messages: 4 messages, more than this node's --max-messages 3",
    ],
    [
      "too many characters",
      prompt("x".repeat(101)),
      "prompt: more than 100 bytes of text (at least 101), over this node's --max-prompt-bytes 100",
    ],
    [
      "few characters but too many UTF-8 bytes",
      chat("é".repeat(30), "é".repeat(30)),
      "messages[].content: more than 100 bytes of text (at least 120), over this node's --max-prompt-bytes 100",
    ],
  ])("%s -> one line naming the field and the flag", (_name, req, message) => {
    expect(requestSizeProblem(req, limits, "this node")).toBe(message);
  });

  it("a million empty messages -> refused by count, whatever the bytes", () => {
    const req = InferenceRequest.fromPartial({});
    req.messages = Array.from({ length: 1_000_000 }, () => ({ role: Role.ROLE_USER, content: "" }));
    expect(requestSizeProblem(req, DEFAULT_REQUEST_LIMITS, "this node")).toMatch(
      /^messages: 1000000 messages/,
    );
  });

  it("grpcReceiveLimit -> twice the text plus framing: 4 MiB of text fits, 60 MB does not", () => {
    const limit = grpcReceiveLimit(DEFAULT_REQUEST_LIMITS);
    expect(limit).toBeGreaterThan(2 * (4 << 20));
    expect(limit).toBeLessThan(60_000_000);
  });
});
