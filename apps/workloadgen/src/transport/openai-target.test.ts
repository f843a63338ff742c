import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadTokenizer } from "@symphony/common";
import { createLogger } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FinishedInfo, TurnFailure, TurnRequest } from "../domain";
import { OpenAiHttpTarget, type OpenAiTargetOptions } from "./openai-target";

/** What the in-test server answers, chosen per request by the user message. */
const sse = (objs: unknown[]) =>
  objs.map((o) => `data: ${JSON.stringify(o)}\n\n`).join("") + "data: [DONE]\n\n";
const delta = (content: string, finish: string | null = null) => ({
  choices: [{ index: 0, delta: { content }, finish_reason: finish }],
});
const usage = { prompt_tokens: 7, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 4 } };

interface Seen {
  body: Record<string, unknown>;
  headers: IncomingHttpHeaders;
  url: string;
}

describe.each(["native", "undici"] as const)(
  "OpenAiHttpTarget (--http-client %s) against an in-test OpenAI server",
  (httpClient) => {
    let server: Server;
    let base: string;
    const seen: Seen[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        let raw = "";
        req.on("data", (d: Buffer) => (raw += d.toString()));
        req.on("end", () => {
          if (req.url === "/v1/models") {
            res.end(JSON.stringify({ data: [{ id: "first-model" }, { id: "second" }] }));
            return;
          }
          const body = JSON.parse(raw) as {
            messages?: { content: string }[];
            prompt?: string;
            stream: boolean;
          };
          seen.push({ body, headers: req.headers, url: req.url! });
          const say = body.messages?.at(-1)?.content ?? body.prompt ?? "";
          if (say === "fail") {
            res.writeHead(503, { "content-type": "application/json" });
            res.end(JSON.stringify({ error: { message: "overloaded" } }));
            return;
          }
          if (say === "stall") {
            // Headers and one token, then silence (the connection stays open).
            res.writeHead(200, { "content-type": "text/event-stream" });
            res.write(`data: ${JSON.stringify(delta("one"))}\n\n`);
            setTimeout(() => res.end(), 3000).unref();
            return;
          }
          if (say === "die mid-stream") {
            // Headers and one token, then the connection closes.
            res.writeHead(200, { "content-type": "text/event-stream" });
            res.write(`data: ${JSON.stringify(delta("one"))}\n\n`);
            setTimeout(() => res.socket?.destroy(), 10);
            return;
          }
          if (say === "slow whole") {
            setTimeout(
              () => res.end(JSON.stringify({ choices: [{ message: { content: "late" } }] })),
              1500,
            ).unref();
            return;
          }
          if (say === "json instead of a stream") {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ choices: [{ message: { content: "one two three" } }], usage }));
            return;
          }
          if (say === "endless line") {
            // 2 MiB without a newline, then a well-formed end the client must never reach.
            res.writeHead(200, { "content-type": "text/event-stream" });
            for (let i = 0; i < 32; i++) res.write("x".repeat(65536));
            res.end("\n\ndata: [DONE]\n\n");
            return;
          }
          if (say === "multi-byte" || say === "byte-order mark") {
            // "é" and "😀" cut between their UTF-8 bytes; optionally a BOM first (TextDecoder drops it).
            res.writeHead(200, { "content-type": "text/event-stream" });
            const bytes = Buffer.concat([
              Buffer.from(say === "byte-order mark" ? [0xef, 0xbb, 0xbf] : []),
              Buffer.from(sse([delta("café"), delta(" 😀", "length")])),
            ]);
            // With the BOM, the first chunk is the BOM and one whole event (it ends in an ASCII byte).
            const cuts = [
              say === "byte-order mark" ? bytes.indexOf("\n\n") + 2 : bytes.indexOf(Buffer.from("é")) + 1,
              bytes.indexOf(Buffer.from("😀")) + 1,
            ];
            let from = 0;
            const next = () => {
              const to = cuts.shift() ?? bytes.length;
              res.write(bytes.subarray(from, to));
              from = to;
              if (from < bytes.length) setTimeout(next, 2);
              else res.end();
            };
            next();
            return;
          }
          if (!body.stream) {
            res.end(
              JSON.stringify({
                choices: [{ message: { content: "one two three" }, finish_reason: "stop" }],
                usage,
              }),
            );
            return;
          }
          res.writeHead(200, { "content-type": "text/event-stream" });
          const text = sse([
            { choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
            delta("one"),
            delta(" two"),
            delta(" three", "length"),
            ...(say === "no usage" ? [] : [{ choices: [], usage }]),
          ]);
          if (say === "truncated") {
            res.end(text.slice(0, text.indexOf("data: [DONE]")));
            return;
          }
          // Split the stream at awkward places: mid-line and mid-JSON.
          const cuts = [5, 40, 41, 120, text.length];
          let from = 0;
          const next = () => {
            const to = cuts.shift()!;
            res.write(text.slice(from, to));
            from = to;
            if (cuts.length > 0) setTimeout(next, 2);
            else res.end();
          };
          next();
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    const target = (over: Partial<OpenAiTargetOptions> = {}) =>
      new OpenAiHttpTarget(
        {
          baseUrl: base,
          endpoint: "chat",
          model: undefined,
          apiKey: undefined,
          headers: {},
          sessionIdHeader: undefined,
          sendExpectedResponse: false,
          connections: 4,
          requestTimeoutMs: 5000,
          tokenizer: loadTokenizer("llama3"),
          httpClient,
          ...over,
        },
        createLogger("test", "error"),
      );

    const turn = (say: string, over: Partial<TurnRequest> = {}): TurnRequest => ({
      requestId: "r1",
      clientId: "c1",
      sessionId: "s1",
      turnIndex: 0,
      messages: [{ role: "user", content: say }],
      promptTokens: 5,
      maxOutputTokens: 3,
      stream: true,
      priority: "normal",
      isLast: false,
      expectedResponse: "one two three",
      ignoreEos: true,
      ...over,
    });

    /** Runs one turn to its end: token events, then finished or failed. */
    const play = (t: OpenAiHttpTarget, request: TurnRequest) =>
      new Promise<{ tokens: string[]; finished?: FinishedInfo; failed?: TurnFailure }>((resolve) => {
        const tokens: string[] = [];
        t.submit(request, {
          started: () => {},
          token: (text) => tokens.push(text),
          finished: (finished) => resolve({ tokens, finished }),
          failed: (failed) => resolve({ tokens, failed }),
        });
      });

    it("waitForReady, no --model -> the first model of GET /models", async () => {
      const t = target();
      await t.waitForReady(2000);
      expect(t.modelName).toBe("first-model");
      await t.close();
    });

    it("streamed chat split mid-line -> one token per content chunk (role chunk skipped), server usage", async () => {
      const t = target({ model: "m" });
      const r = await play(t, turn("hello"));
      expect(r.tokens).toEqual(["one", " two", " three"]);
      expect(r.finished).toEqual({
        nodeId: "",
        promptTokens: 7,
        completionTokens: 3,
        cachedTokens: 4,
        finishReason: "length",
        usageSource: "server",
      });
      const last = seen.at(-1)!;
      expect(last.url).toBe("/v1/chat/completions");
      expect(last.body).toMatchObject({
        model: "m",
        stream: true,
        stream_options: { include_usage: true },
        max_completion_tokens: 3,
        ignore_eos: true,
      });
      expect(last.body).not.toHaveProperty("expected_response");
      await t.close();
    });

    it.each(["multi-byte", "byte-order mark"])(
      "%s: characters split between chunks (and a leading BOM) -> decoded whole, every data line read",
      async (say) => {
        const t = target({ model: "m" });
        const r = await play(t, turn(say));
        expect(r.tokens).toEqual(["café", " 😀"]);
        expect(r.finished).toMatchObject({ finishReason: "length", usageSource: "client" });
        await t.close();
      },
    );

    it("no usage in the stream -> client-side count with --tokenizer, flagged", async () => {
      const t = target({ model: "m" });
      const r = await play(t, turn("no usage"));
      expect(r.finished).toMatchObject({
        completionTokens: loadTokenizer("llama3").countTokens("one two three"),
        promptTokens: 5,
        usageSource: "client",
      });
      await t.close();
    });

    it.each([
      ["fail", { code: "HTTP_503", message: "overloaded" }],
      ["truncated", { code: "STREAM_TRUNCATED", message: "stream ended without [DONE]" }],
      [
        "json instead of a stream",
        {
          code: "BAD_RESPONSE",
          message: "server answered 200 with content-type application/json, expected text/event-stream",
        },
      ],
      [
        "endless line",
        { code: "BAD_RESPONSE", message: "server-sent-events line longer than 1048576 characters" },
      ],
    ])("%s -> failed with a typed code", async (say, failure) => {
      const t = target({ model: "m" });
      const r = await play(t, turn(say));
      expect(r.failed).toEqual(failure);
      expect(r.finished).toBeUndefined();
      await t.close();
    });

    it("connection closed mid-stream -> UND_ERR_SOCKET (with either client), the next turn succeeds", async () => {
      const t = target({ model: "m", connections: 1 });
      const r = await play(t, turn("die mid-stream"));
      expect(r.tokens).toEqual(["one"]);
      expect(r.failed).toEqual({ code: "UND_ERR_SOCKET", message: "other side closed" });
      const next = await play(t, turn("hello"));
      expect(next.tokens).toEqual(["one", " two", " three"]);
      expect(next.finished).toBeDefined();
      await t.close();
    });

    it("stream stalls after one token, --idle-timeout 0.3 s -> IDLE_TIMEOUT after about 0.3 s, naming the flag", async () => {
      const t = target({ model: "m", idleTimeoutMs: 300 });
      const t0 = performance.now();
      const r = await play(t, turn("stall"));
      const waited = performance.now() - t0;
      expect(r.tokens).toEqual(["one"]);
      expect(r.failed).toEqual({
        code: "IDLE_TIMEOUT",
        message: "no byte from the server for 0.3 s on a streamed turn (--idle-timeout)",
      });
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(2000);
      await t.close();
    });

    it("whole answer slower than --request-timeout 0.4 s -> DEADLINE_EXCEEDED (the idle timeout does not apply)", async () => {
      const t = target({ model: "m", requestTimeoutMs: 400, idleTimeoutMs: 100 });
      const r = await play(t, turn("slow whole", { stream: false }));
      expect(r.failed).toEqual({
        code: "DEADLINE_EXCEEDED",
        message: "turn not finished within 0.4 s (--request-timeout)",
      });
      await t.close();
    });

    it("completions endpoint, no stream, headers, key, session header, expected_response -> all on the wire", async () => {
      const t = target({
        model: "m",
        endpoint: "completions",
        apiKey: "secret",
        headers: { "x-tenant": "t1" },
        sessionIdHeader: "x-session-id",
        sendExpectedResponse: true,
      });
      const r = await play(t, turn("", { messages: undefined, prompt: "plain prompt", stream: false }));
      expect(r.finished).toMatchObject({ completionTokens: 3, usageSource: "server" });
      const last = seen.at(-1)!;
      expect(last.url).toBe("/v1/completions");
      expect(last.body).toMatchObject({
        prompt: "plain prompt",
        max_tokens: 3,
        expected_response: "one two three",
      });
      expect(last.headers).toMatchObject({
        authorization: "Bearer secret",
        "x-tenant": "t1",
        "x-session-id": "s1",
      });
      await t.close();
    });

    it("request body -> byte-identical to JSON.stringify of the body object, for every shape", () => {
      const reference = (t: OpenAiHttpTarget, r: TurnRequest, chat: boolean, model: string | undefined) => {
        const body: Record<string, unknown> = { model, stream: r.stream };
        if (chat) {
          body.messages = r.messages ?? [{ role: "user", content: r.prompt ?? "" }];
          body.max_completion_tokens = r.maxOutputTokens;
        } else {
          body.prompt = r.prompt ?? (r.messages ?? []).map((m) => `${m.role}: ${m.content}`).join("\n");
          body.max_tokens = r.maxOutputTokens;
        }
        if (r.stream) body.stream_options = { include_usage: true };
        if (r.ignoreEos) body.ignore_eos = true;
        if (t.options.sendExpectedResponse && r.expectedResponse !== undefined)
          body.expected_response = r.expectedResponse;
        return JSON.stringify(body);
      };
      const odd = 'quote " backslash \\ newline \n tab \t nul \u0000 é 😀 \ud800';
      for (const endpoint of ["chat", "completions"] as const)
        for (const model of [undefined, "m", odd])
          for (const sendExpectedResponse of [false, true])
            for (const r of [
              turn("hello"),
              turn(odd, { stream: false, ignoreEos: false, expectedResponse: odd }),
              turn("", { messages: undefined, prompt: odd, expectedResponse: undefined }),
              turn("", { messages: undefined, prompt: undefined }),
              turn("x", {
                messages: [
                  { role: "system", content: odd },
                  { role: "user", content: "u" },
                  { role: "assistant", content: "" },
                ],
                maxOutputTokens: 0,
              }),
            ]) {
              const t = target({ model, endpoint, sendExpectedResponse });
              expect(t.body(r)).toBe(reference(t, r, endpoint === "chat", model));
            }
    });

    it("unreachable server -> waitForReady rejects with the cause", async () => {
      const t = target({ baseUrl: "http://127.0.0.1:1/v1", connections: 1, requestTimeoutMs: 1000 });
      await expect(t.waitForReady(200)).rejects.toThrow(/ECONNREFUSED/);
      await t.close();
    });
  },
);
