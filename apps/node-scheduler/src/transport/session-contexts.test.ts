import { describe, expect, it } from "vitest";
import { SessionContexts } from "./session-contexts";

describe("SessionContexts", () => {
  it("chat turn -> next context is the messages plus the reply as an assistant message", () => {
    const contexts = new SessionContexts(10);
    const t = contexts.recordTurn("s", { messages: [{ role: "user", content: "hi" }] }, "hello!");
    expect(t.context).toEqual({
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello!" },
      ],
    });
    expect(contexts.get("s")).toBe(t);
  });

  it("completion turn -> next context is the prompt followed by the reply", () => {
    const contexts = new SessionContexts(10);
    expect(contexts.recordTurn("s", { prompt: "Once upon" }, " a time").context).toEqual({
      prompt: "Once upon a time",
    });
  });

  it("more sessions than the bound -> least recently used forgotten", () => {
    const contexts = new SessionContexts(2);
    contexts.recordTurn("a", { prompt: "a" }, "");
    contexts.recordTurn("b", { prompt: "b" }, "");
    contexts.get("a");
    contexts.recordTurn("c", { prompt: "c" }, "");
    expect(contexts.get("b")).toBeUndefined();
    expect(contexts.get("a")).toBeDefined();
    expect(contexts.size).toBe(2);
  });
});
