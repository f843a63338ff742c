import { describe, expect, it } from "vitest";
import { ChatHistory } from "./chat-session";

describe("ChatHistory", () => {
  it("first turn -> just the prompt (after the system message)", () => {
    expect(new ChatHistory("sys").requestMessages("hi")).toEqual([
      { role: "system", content: "sys" },
      { role: "user", content: "hi" },
    ]);
  });

  it("third turn -> all earlier prompts and received responses, in order", () => {
    const history = new ChatHistory();
    history.recordTurn("q1", "received 1");
    history.recordTurn("q2", "received 2");
    expect(history.requestMessages("q3")).toEqual([
      { role: "user", content: "q1" },
      { role: "assistant", content: "received 1" },
      { role: "user", content: "q2" },
      { role: "assistant", content: "received 2" },
      { role: "user", content: "q3" },
    ]);
    expect(history.turns).toBe(2);
  });

  it("requestMessages -> does not change the history", () => {
    const history = new ChatHistory();
    history.requestMessages("q1");
    expect(history.turns).toBe(0);
    expect(history.requestMessages("q2")).toHaveLength(1);
  });
});
