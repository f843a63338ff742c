import { InferenceEvent, InferenceRequest } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { turn } from "../../test/client";
import { eventToInspect, requestBytes, schedulerServiceDefinition } from "./raw-relay-codec";

const bytesOf = (ev: InferenceEvent) => Buffer.from(InferenceEvent.encode(ev).finish());

const events: Record<string, InferenceEvent> = {
  started: { event: { $case: "started", value: { nodeId: "n", queueTimeUs: 5, kvTier: "gpu" } } },
  token: { event: { $case: "token", value: { text: "hi", tokenCount: 1, reasoning: false } } },
  finished: {
    event: {
      $case: "finished",
      value: {
        usage: { promptTokens: 10, completionTokens: 2, cachedTokens: 4 },
        finishReason: "stop",
        nodeId: "n",
        timings: undefined,
      },
    },
  },
  error: { event: { $case: "error", value: { code: "UNAVAILABLE", message: "x", retryable: true } } },
};

describe("eventToInspect", () => {
  it.each(["started", "token"])("%s event -> passed through unread (undefined)", (name) => {
    expect(eventToInspect(bytesOf(events[name]!))).toBeUndefined();
  });

  it.each(["finished", "error"])("%s event -> decoded", (name) => {
    expect(eventToInspect(bytesOf(events[name]!))).toEqual(events[name]);
  });
});

describe("Submit codec", () => {
  const { requestDeserialize, responseSerialize } = schedulerServiceDefinition.submit;

  it("decoded request -> forwarded as the very bytes it arrived as", () => {
    const wire = Buffer.from(InferenceRequest.encode(turn("s", 1)).finish());
    const req = requestDeserialize(wire);
    expect(req.sessionId).toBe("s");
    expect(requestBytes(req)).toBe(wire);
  });

  it("request built in memory -> encoded", () => {
    const req = turn("s", 2);
    expect(InferenceRequest.decode(requestBytes(req))).toEqual(
      InferenceRequest.decode(requestBytes({ ...req })),
    );
    expect(InferenceRequest.decode(requestBytes(req)).turnIndex).toBe(2);
  });

  it("event bytes -> sent unchanged; event object -> encoded", () => {
    const raw = bytesOf(events.token!);
    expect(responseSerialize(raw)).toBe(raw);
    expect(InferenceEvent.decode(responseSerialize(events.error!))).toEqual(events.error);
  });
});
