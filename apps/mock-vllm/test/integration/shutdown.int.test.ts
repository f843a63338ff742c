import { describe, expect, it } from "vitest";
import { startMock } from "./helpers";

describe("mock-vllm shutdown (built bundle)", () => {
  it("SIGTERM during a stream -> the stream completes with [DONE], then the process exits 0", async () => {
    const { svc, base } = await startMock(["--time-scale", "5"]);
    try {
      // 200 tokens at ~1.4 ms each at time scale 5: still running when the signal arrives.
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          messages: [{ role: "user", content: "long answer please" }],
          max_tokens: 200,
          ignore_eos: true,
          stream: true,
        }),
      });
      const reader = res.body!.getReader();
      let raw = new TextDecoder().decode((await reader.read()).value);
      const exited = svc.stop(10_000);
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        raw += new TextDecoder().decode(value);
      }
      expect(raw.endsWith("data: [DONE]\n\n")).toBe(true);
      expect(raw.match(/"content":"[^"]/g)).toHaveLength(200);
      expect(await exited).toBe(0);
      expect(svc.logs.some((l) => l.message === "stopped")).toBe(true);
    } finally {
      await svc.stop();
    }
  });

  it("--drain-timeout-ms 0 -> a stream still running at SIGTERM is cut (no [DONE]) and the process exits 0", async () => {
    const { svc, base } = await startMock(["--drain-timeout-ms", "0"]);
    try {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          messages: [{ role: "user", content: "very long answer please" }],
          max_tokens: 2000,
          ignore_eos: true,
          stream: true,
        }),
      });
      // SIGTERM once the stream has started (a fixed wait raced the request under load).
      const reader = res.body!.getReader();
      let raw = new TextDecoder().decode((await reader.read()).value);
      const code = await svc.stop(10_000);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          raw += new TextDecoder().decode(value);
        }
      } catch {
        /* connection cut */
      }
      expect(raw).not.toContain("[DONE]");
      expect(code).toBe(0);
    } finally {
      await svc.stop();
    }
  });
});
