/**
 * A minimal, fast OpenAI-compatible server for the send-rate benchmark: answers every chat
 * completion at once with `--tokens` streamed tokens, usage and [DONE], so the client, not the
 * server, is what the benchmark measures. Usage: node fast-openai-server.js [--tokens N].
 * Logs one JSON line `{"message":"listening","kind":"http","port":...}` like every service.
 */
import { createServer } from "node:http";

const tokensArg = process.argv.indexOf("--tokens");
const tokens = tokensArg > 0 ? Number(process.argv[tokensArg + 1]) : 2;
const head = `data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"bench","choices":[{"index":0,`;
const body =
  `${head}"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n` +
  Array.from(
    { length: tokens },
    (_, i) =>
      `${head}"delta":{"content":" w${i}"},"finish_reason":${i === tokens - 1 ? '"length"' : "null"}}]}\n\n`,
  ).join("") +
  `data: {"id":"b","object":"chat.completion.chunk","created":0,"model":"bench","choices":[],"usage":{"prompt_tokens":16,"completion_tokens":${tokens},"total_tokens":${16 + tokens},"prompt_tokens_details":{"cached_tokens":0}}}\n\n` +
  "data: [DONE]\n\n";
const models = JSON.stringify({ object: "list", data: [{ id: "bench", object: "model" }] });

const server = createServer((req, res) => {
  // Drain the request body, then answer in one write.
  req.resume();
  req.on("end", () => {
    if (req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" }).end(models);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" }).end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(
    JSON.stringify({ message: "listening", kind: "http", host: "127.0.0.1", port }) + "\n",
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
