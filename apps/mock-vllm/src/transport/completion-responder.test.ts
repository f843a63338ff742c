import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import type { RequestSummary } from "../domain";
import { CompletionResponder, type Job } from "./completion-responder";

/** A response whose writes report a full buffer while `full` is set; 'drain' is emitted by hand. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  full = false;
  ended = false;
  readonly chunkedEncoding = false;
  readonly socket = null;
  readonly destroyed = false;
  writeHead(): this {
    return this;
  }
  flushHeaders(): void {}
  write(data: string): boolean {
    this.written.push(data);
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
}

const PIECES = ["Hel", "lo", ",", " wor", "ld"];

function job(): Job {
  return {
    kind: "chat",
    id: "chatcmpl-1",
    created: 1,
    model: "m",
    promptTokenIds: [1, 2, 3],
    plan: { tokenIds: Int32Array.from(PIECES.map((_, i) => 100 + i)), finishReason: "length" },
    pieces: PIECES,
    stream: true,
    includeUsage: true,
    externalKvTokens: 0,
    maxTokens: PIECES.length,
  };
}

const summary = {
  finishReason: "length",
  promptTokens: 3,
  completionTokens: PIECES.length,
  cachedTokens: 0,
} as RequestSummary;

/** The SSE payloads written so far, parsed ([DONE] as is). */
function events(res: FakeResponse): unknown[] {
  return res.written
    .join("")
    .split("\n\n")
    .filter((e) => e !== "")
    .map((e) => (e === "data: [DONE]" ? "[DONE]" : JSON.parse(e.slice("data: ".length))));
}

describe("CompletionResponder, a client slower than the tokens", () => {
  it("tokens during a full buffer -> one merged delta on drain (finish reason with the last), then usage and [DONE]", () => {
    const res = new FakeResponse();
    const responder = new CompletionResponder(job(), res as unknown as ServerResponse, -1, () => {}, false);
    responder.startStream();
    res.full = true;
    responder.onToken(0); // written (role + "Hel"); the buffer is now over its mark
    for (let i = 1; i < PIECES.length; i++) responder.onToken(i);
    responder.onFinish(summary);
    expect(events(res)).toHaveLength(2); // nothing more until the drain
    expect(res.ended).toBe(false);

    res.full = false;
    res.emit("drain");
    const all = events(res) as {
      choices: { delta: Record<string, string>; finish_reason: string | null }[];
    }[];
    expect(all.map((e) => (e === ("[DONE]" as unknown) ? e : (e.choices[0]?.delta ?? "usage")))).toEqual([
      { role: "assistant", content: "" },
      { content: "Hel" },
      { content: "lo, world" },
      "usage",
      "[DONE]",
    ]);
    expect(all[2]!.choices[0]!.finish_reason).toBe("length");
    expect((all[3] as unknown as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(5);
    expect(res.ended).toBe(true);
  });

  it("aborted while tokens are held -> they are dropped and the response ends", () => {
    const res = new FakeResponse();
    const responder = new CompletionResponder(job(), res as unknown as ServerResponse, -1, () => {}, false);
    responder.startStream();
    res.full = true;
    responder.onToken(0);
    responder.onToken(1);
    responder.onFinish({ ...summary, finishReason: "abort", completionTokens: 2 });
    expect(res.ended).toBe(true);
    const before = res.written.length;
    res.emit("drain");
    expect(res.written.length).toBe(before);
  });
});
