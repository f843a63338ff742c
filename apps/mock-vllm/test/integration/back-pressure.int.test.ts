import net from "node:net";
import { getDefaultHighWaterMark } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue, startMock, streamRequest } from "./helpers";

const TOKENS = 6000;
/**
 * Every event repeats the model name: a 3,000-character one makes each ~3 KB, so the stream
 * (~19 MB) outgrows what the kernel's socket buffers absorb on loopback (a few MB) within the pause.
 */
const MODEL = "m".repeat(3000);
const REQUEST = {
  prompt: "Tell me a very long story",
  max_tokens: TOKENS,
  ignore_eos: true,
  stream: true,
  stream_options: { include_usage: true },
};
/** A socket's send-buffer high-water mark in the mock (spawned with this test's node binary). */
const HIGH_WATER_MARK_BYTES = getDefaultHighWaterMark(false);

/** The SSE payloads of a chunked HTTP/1.1 response read whole off a raw socket. */
function ssePayloads(response: Buffer): string[] {
  const headEnd = response.indexOf("\r\n\r\n");
  expect(response.subarray(0, headEnd).toString("latin1")).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  let at = headEnd + 4;
  const body: Buffer[] = [];
  for (;;) {
    const lineEnd = response.indexOf("\r\n", at);
    const size = parseInt(response.subarray(at, lineEnd).toString("latin1"), 16);
    if (size === 0) break;
    body.push(response.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  const text = Buffer.concat(body).toString("utf8");
  expect(text.endsWith("\n\n")).toBe(true);
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((e) => e.slice("data: ".length));
}

describe("mock-vllm under a client that stops reading (built bundle, raw socket)", () => {
  let svc: RunningService;
  let base: string;

  beforeAll(async () => {
    ({ svc, base } = await startMock(["--time-scale", "20", "--served-model-name", MODEL]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("paused reader: send buffer stays bounded, tokens merge into fewer events, the text is whole", async () => {
    const reference = await streamRequest(`${base}/v1/completions`, REQUEST);
    const referenceText = reference.chunks
      .flatMap((c) => (c.choices as { text: string }[]).map((ch) => ch.text))
      .join("");
    expect(reference.chunks).toHaveLength(TOKENS + 1); // fast reader: one event per token + usage

    const socket = net.connect(Number(new URL(base).port), "127.0.0.1");
    const received: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      socket.on("end", resolve);
      socket.on("error", reject);
    });
    socket.on("data", (d: Buffer) => {
      received.push(d);
      if (received.length === 1) socket.pause(); // stop reading once the stream has started
    });
    const json = JSON.stringify(REQUEST);
    socket.write(
      `POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
    );

    // While paused, the kernel buffers fill and then the mock's own; scrape it meanwhile.
    let maxBuffered = 0;
    for (let i = 0; i < 20; i++) {
      await sleep(100);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      maxBuffered = Math.max(maxBuffered, metricValue(metrics, "symphony_mock_http_send_buffer_max_bytes"));
    }
    expect(maxBuffered).toBeGreaterThan(0); // the pause did back the stream up into the mock
    // At most the high-water mark plus one event (its ~3 KB of fields and, merged, at most the
    // whole output's text): not the ~19 MB the stream would queue if every token were written.
    const oneEventBound = 2 * MODEL.length + Buffer.byteLength(JSON.stringify(referenceText));
    expect(maxBuffered).toBeLessThan(HIGH_WATER_MARK_BYTES + oneEventBound);

    socket.resume();
    await ended;
    const payloads = ssePayloads(Buffer.concat(received));
    expect(payloads.at(-1)).toBe("[DONE]");
    const usage = JSON.parse(payloads.at(-2)!) as { usage: { completion_tokens: number } };
    expect(usage.usage.completion_tokens).toBe(TOKENS);
    const events = payloads
      .slice(0, -2)
      .map((p) => JSON.parse(p) as { choices: { text: string; finish_reason: string | null }[] });
    expect(events.length).toBeLessThan(TOKENS);
    expect(events.map((e) => e.choices[0]!.text).join("")).toBe(referenceText);
    expect(events.slice(0, -1).every((e) => e.choices[0]!.finish_reason === null)).toBe(true);
    expect(events.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });
});
