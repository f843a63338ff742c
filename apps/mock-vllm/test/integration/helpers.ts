import { startMockVllm, type RunningService } from "@symphony/testkit";

/** Starts the built mock on a free loopback port. */
export async function startMock(args: string[] = []): Promise<{ svc: RunningService; base: string }> {
  const svc = await startMockVllm(args);
  return { svc, base: svc.base };
}

export interface StreamResult {
  status: number;
  /** Parsed `data:` payloads, excluding [DONE]. */
  chunks: Record<string, unknown>[];
  done: boolean;
  /** ms from sending the request to the first chunk carrying content. */
  ttftMs: number;
  raw: string;
}

/** POSTs a streaming request with fetch and collects its SSE events. */
export async function streamRequest(url: string, body: Record<string, unknown>): Promise<StreamResult> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ stream: true, stream_options: { include_usage: true }, ...body }),
  });
  let raw = "";
  let ttftMs = -1;
  const decoder = new TextDecoder();
  try {
    for await (const part of res.body!) {
      const text = decoder.decode(part as Uint8Array, { stream: true });
      if (ttftMs < 0 && /"(content|text)":"[^"]/.test(text)) ttftMs = performance.now() - t0;
      raw += text;
    }
  } catch {
    /* connection cut: the caller checks `done` */
  }
  const chunks: Record<string, unknown>[] = [];
  let done = false;
  for (const event of raw.split("\n\n")) {
    if (!event.startsWith("data: ")) continue;
    const data = event.slice(6);
    if (data === "[DONE]") done = true;
    else chunks.push(JSON.parse(data) as Record<string, unknown>);
  }
  return { status: res.status, chunks, done, ttftMs, raw };
}

/** Reads one sample's value from Prometheus text, e.g. metric("vllm:num_requests_running"). */
export function metricValue(text: string, name: string, labelFilter = ""): number {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labelFilter && !line.includes(labelFilter)) continue;
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      found = true;
    }
  }
  if (!found) throw new Error(`metric ${name} not found`);
  return sum;
}
