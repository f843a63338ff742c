import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { countTokens } from "@symphony/common";

/** What the fake engine received, for assertions. */
export interface FakeEngineCall {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * A tiny OpenAI-compatible SSE server (chat + completions + models + vLLM-style /metrics) for
 * tests that must not depend on mock-vllm. Streams the request's `expected_response` (or a
 * fixed text) word by word, one SSE chunk per word, then a usage chunk whose cached_tokens is
 * the longest previously seen prompt that prefixes this one (a crude prefix cache).
 */
export class FakeEngine {
  readonly calls: FakeEngineCall[] = [];
  /** Answer the next N generate calls with this HTTP status. */
  failNext: { status: number; count: number } = { status: 0, count: 0 };
  /** Pause between streamed chunks, ms. */
  chunkDelayMs = 0;
  /** Hostile engine: the next generate calls send these usage objects instead of the real one (one each). */
  badUsageNext: Record<string, unknown>[] = [];
  /** Hostile engine: the next generate calls answer 200 with JSON, or with a line that never ends (one each). */
  badStreamNext: ("json-200" | "endless-line")[] = [];
  /** Generation calls in flight right now. */
  inFlight = 0;
  /** Calls aborted by the client before completing. */
  aborted = 0;
  private readonly seenPrompts: string[] = [];
  private server?: Server;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  generateCalls(): FakeEngineCall[] {
    return this.calls.filter((c) => c.path.endsWith("completions"));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const path = req.url ?? "/";
    if (req.method === "GET" && path === "/v1/models") {
      return this.json(res, 200, { object: "list", data: [{ id: "fake-model", object: "model" }] });
    }
    if (req.method === "GET" && path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(
        [
          "# TYPE vllm:num_requests_running gauge",
          `vllm:num_requests_running{model_name="fake-model"} ${this.inFlight}`,
          `vllm:num_requests_waiting{model_name="fake-model"} 0`,
          `vllm:kv_cache_usage_perc{model_name="fake-model"} 0.25`,
          "",
        ].join("\n"),
      );
      return;
    }
    if (req.method !== "POST" || !path.endsWith("completions"))
      return this.json(res, 404, { error: "no route" });
    const body = JSON.parse(raw) as Record<string, unknown>;
    this.calls.push({ path, headers: req.headers, body });
    if (this.failNext.count > 0) {
      this.failNext.count--;
      return this.json(res, this.failNext.status, {
        error: { message: `injected failure ${this.failNext.status}`, code: this.failNext.status },
      });
    }
    const hostile = this.badStreamNext.shift();
    if (hostile === "json-200") return this.json(res, 200, { choices: [{ message: { content: "hi" } }] });
    if (hostile === "endless-line") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      // 40 MB without a newline unless the client hangs up first (the reproduction).
      for (let i = 0; i < 640 && !res.destroyed; i++) {
        if (!res.write("z".repeat(65536))) await new Promise((r) => res.once("drain", r));
      }
      res.end();
      return;
    }
    const chat = path.endsWith("/chat/completions");
    const prompt = chat
      ? (body.messages as { role: string; content: string }[])
          .map((m) => `${m.role}: ${m.content}`)
          .join("\n")
      : String(body.prompt);
    const promptTokens = countTokens(prompt);
    let cachedTokens = 0;
    for (const p of this.seenPrompts)
      if (prompt.startsWith(p)) cachedTokens = Math.max(cachedTokens, countTokens(p));
    this.seenPrompts.push(prompt);
    const text =
      typeof body.expected_response === "string" ? body.expected_response : "hello from the fake engine";
    const maxTokens = Number(body.max_tokens);
    const words = text.split(/(?<= )/).slice(0, maxTokens);

    this.inFlight++;
    let closed = false;
    res.on("close", () => {
      if (!res.writableFinished) {
        closed = true;
        this.aborted++;
      }
    });
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    for (const w of words) {
      if (closed) break;
      if (this.chunkDelayMs > 0) await new Promise((r) => setTimeout(r, this.chunkDelayMs));
      // A word starting with "~" is a reasoning token, streamed as vLLM's reasoning parser does.
      const delta = w.startsWith("~") ? { reasoning_content: w.slice(1) } : { content: w };
      send({ choices: [chat ? { index: 0, delta } : { index: 0, text: w }] });
    }
    this.inFlight--;
    if (closed) return;
    const finish = words.length >= maxTokens ? "length" : "stop";
    send({
      choices: [
        chat ? { index: 0, delta: {}, finish_reason: finish } : { index: 0, text: "", finish_reason: finish },
      ],
    });
    send({
      choices: [],
      usage: this.badUsageNext.shift() ?? {
        prompt_tokens: promptTokens,
        completion_tokens: words.length,
        total_tokens: promptTokens + words.length,
        prompt_tokens_details: { cached_tokens: cachedTokens },
      },
    });
    res.end("data: [DONE]\n\n");
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }
}
