import net from "node:net";
import type { RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMock } from "./helpers";

/** One HTTP/1.1 response read off the raw connection: status line, headers, chunk bodies. */
interface RawResponse {
  head: string;
  headers: Record<string, string>;
  /** Chunk bodies in order (the terminating zero-size chunk excluded), checked against their size lines. */
  chunks: string[];
}

/**
 * Reads HTTP/1.1 responses with chunked bodies off one keep-alive socket, checking each chunk's
 * size line against its UTF-8 byte count and its closing CRLF.
 */
class RawHttpConnection {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private readonly socket: net.Socket;

  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Waits until `n` bytes are buffered (bounded by the test timeout). */
  private async need(n: number): Promise<void> {
    while (this.buf.length < n) await new Promise<void>((r) => (this.waiter = r));
    this.waiter = null;
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf("\r\n");
      if (i >= 0) {
        const text = this.buf.subarray(0, i).toString("latin1");
        this.buf = this.buf.subarray(i + 2);
        return text;
      }
      await this.need(this.buf.length + 1);
    }
  }

  async request(path: string, body: Record<string, unknown>): Promise<RawResponse> {
    const json = JSON.stringify(body);
    this.socket.write(
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
    );
    const head = await this.line();
    const headers: Record<string, string> = {};
    for (let h = await this.line(); h !== ""; h = await this.line()) {
      const colon = h.indexOf(":");
      headers[h.slice(0, colon).toLowerCase()] = h.slice(colon + 1).trim();
    }
    const chunks: string[] = [];
    for (;;) {
      const sizeLine = await this.line();
      expect(sizeLine).toMatch(/^[0-9a-f]+$/);
      const size = parseInt(sizeLine, 16);
      await this.need(size + 2);
      expect(this.buf.subarray(size, size + 2).toString("latin1")).toBe("\r\n");
      if (size === 0) {
        this.buf = this.buf.subarray(2);
        return { head, headers, chunks };
      }
      chunks.push(this.buf.subarray(0, size).toString("utf8"));
      this.buf = this.buf.subarray(size + 2);
    }
  }
}

/** The JSON payloads of the SSE events in one chunk body (each `data: ...\n\n`). */
function events(chunk: string): string[] {
  expect(chunk.endsWith("\n\n")).toBe(true);
  return chunk
    .slice(0, -2)
    .split("\n\n")
    .map((e) => {
      expect(e.startsWith("data: ")).toBe(true);
      return e.slice(6);
    });
}

describe("mock-vllm streamed responses on the wire (raw HTTP/1.1, built bundle)", () => {
  let svc: RunningService;
  let conn: RawHttpConnection;

  beforeAll(async () => {
    let base: string;
    ({ svc, base } = await startMock(["--time-scale", "20", "--max-model-len", "4096"]));
    conn = new RawHttpConnection(Number(new URL(base).port));
  });
  afterAll(async () => {
    conn?.close();
    await svc?.stop();
  });

  it("chat stream: chunked, keep-alive; role + first token in one chunk, then one chunk per token, usage + [DONE] in one, then the zero chunk", async () => {
    const expected = "Héllo wörld — ça va? 日本語 🎉 and then some plain words";
    const r = await conn.request("/v1/chat/completions", {
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
      expected_response: expected,
    });
    expect(r.head).toBe("HTTP/1.1 200 OK");
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(r.headers["connection"]).toBe("keep-alive");
    expect(r.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const perChunk = r.chunks.map(events);
    const [first, ...rest] = perChunk;
    const tail = rest.pop()!;
    expect(first).toHaveLength(2);
    expect(JSON.parse(first![0]!).choices[0].delta).toEqual({ role: "assistant", content: "" });
    expect(rest.every((e) => e.length === 1)).toBe(true);
    const tokens = [first![1]!, ...rest.map((e) => e[0]!)].map(
      (e) => JSON.parse(e) as { choices: { delta: { content: string }; finish_reason: string | null }[] },
    );
    expect(tokens.map((t) => t.choices[0]!.delta.content).join("")).toBe(expected);
    expect(tokens.slice(0, -1).every((t) => t.choices[0]!.finish_reason === null)).toBe(true);
    expect(tokens.at(-1)!.choices[0]!.finish_reason).toBe("stop");
    expect(tail).toHaveLength(2);
    expect(JSON.parse(tail[0]!).usage.completion_tokens).toBe(tokens.length);
    expect(tail[1]).toBe("[DONE]");
  });

  it("then on the same connection: a completions stream, one text_completion chunk per token", async () => {
    const r = await conn.request("/v1/completions", {
      prompt: "Once upon a time",
      max_tokens: 25,
      ignore_eos: true,
      stream: true,
    });
    expect(r.head).toBe("HTTP/1.1 200 OK");
    const perChunk = r.chunks.map(events);
    expect(perChunk.at(-1)).toEqual(["[DONE]"]);
    const tokens = perChunk.slice(0, -1);
    expect(tokens).toHaveLength(25);
    expect(tokens.every((e) => e.length === 1)).toBe(true);
    const parsed = tokens.map(
      (e) => JSON.parse(e[0]!) as { object: string; choices: { finish_reason: string | null }[] },
    );
    expect(parsed.every((c) => c.object === "text_completion")).toBe(true);
    expect(parsed.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });
});
