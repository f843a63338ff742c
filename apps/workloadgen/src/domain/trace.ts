import { z } from "zod";
import type { SessionPlan, SessionSource } from "./plan";

/** One request of a trace: when it arrived and its token lengths. */
export interface TraceRecord {
  /** µs since the trace's first request. */
  offsetUs: number;
  inputTokens: number;
  outputTokens: number;
  /** Mooncake: ids of shared 512-token prefix blocks. */
  hashIds?: number[];
}

/** Thrown with `line N: problem`; the caller prefixes the file. */
export class TraceFormatError extends Error {}

/** "2023-11-16 18:15:46.6805900" (Azure LLM inference trace) -> µs since the epoch, UTC. */
export function parseAzureTimestamp(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = ""] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const micros = Number((frac + "000000").slice(0, 6));
  return ms * 1000 + micros;
}

/** Azure CSV with a header naming TIMESTAMP, ContextTokens, GeneratedTokens (any order, extra columns ok). */
export function parseAzureCsv(text: string): TraceRecord[] {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? "").split(",").map((h) => h.trim());
  const col = (name: string) => {
    const i = header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new TraceFormatError(`line 1: header has no ${name} column (got ${header.join(",")})`);
    return i;
  };
  const [ts, ctx, gen] = [col("TIMESTAMP"), col("ContextTokens"), col("GeneratedTokens")];
  const raw: { t: number; input: number; output: number }[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const cells = line.split(",");
    const t = parseAzureTimestamp(cells[ts] ?? "");
    if (t === undefined)
      throw new TraceFormatError(
        `line ${i + 1}: TIMESTAMP: expected "YYYY-MM-DD hh:mm:ss[.fff]", got "${cells[ts] ?? ""}"`,
      );
    const num = (idx: number, name: string) => {
      const v = Number(cells[idx]);
      if (!/^\s*\d+\s*$/.test(cells[idx] ?? ""))
        throw new TraceFormatError(
          `line ${i + 1}: ${name}: expected a non-negative integer, got "${cells[idx] ?? ""}"`,
        );
      return v;
    };
    raw.push({ t, input: num(ctx, "ContextTokens"), output: num(gen, "GeneratedTokens") });
  }
  return toRecords(raw.map((r) => ({ ...r })));
}

const mooncakeLine = z.object({
  timestamp: z.number().min(0),
  input_length: z.number().int().min(0),
  output_length: z.number().int().min(0),
  hash_ids: z.array(z.number().int()).optional(),
});

/** Mooncake JSONL: `{"timestamp": ms, "input_length", "output_length", "hash_ids": [...]}` per line. */
export function parseMooncakeJsonl(text: string): TraceRecord[] {
  const raw: { t: number; input: number; output: number; hashIds?: number[] }[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new TraceFormatError(`line ${i + 1}: invalid JSON: ${(err as Error).message}`);
    }
    const r = mooncakeLine.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new TraceFormatError(`line ${i + 1}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
    }
    raw.push({
      t: r.data.timestamp * 1000,
      input: r.data.input_length,
      output: r.data.output_length,
      ...(r.data.hash_ids ? { hashIds: r.data.hash_ids } : {}),
    });
  });
  return toRecords(raw);
}

function toRecords(raw: { t: number; input: number; output: number; hashIds?: number[] }[]): TraceRecord[] {
  if (raw.length === 0) throw new TraceFormatError("no requests in trace");
  raw.sort((a, b) => a.t - b.t);
  const t0 = raw[0]!.t;
  return raw.map((r) => ({
    offsetUs: Math.round(r.t - t0),
    inputTokens: r.input,
    outputTokens: r.output,
    ...(r.hashIds ? { hashIds: r.hashIds } : {}),
  }));
}

/** Parses a trace, choosing the format by content when `format` is "auto" (JSON lines start with "{"). */
export function parseTrace(text: string, format: "auto" | "azure" | "mooncake"): TraceRecord[] {
  const f = format === "auto" ? (text.trimStart().startsWith("{") ? "mooncake" : "azure") : format;
  return f === "mooncake" ? parseMooncakeJsonl(text) : parseAzureCsv(text);
}

/**
 * Trace replay: one single-turn completion request per record at its own time offset (the run
 * loop divides offsets by --time-scale). Prompts are synthesized to the recorded length; with
 * hash ids, equal ids give identical prefix blocks.
 */
export class TraceSessionSource implements SessionSource {
  private i = 0;
  constructor(
    private readonly records: readonly TraceRecord[],
    private readonly maxOutputTokensCap = Infinity,
  ) {}

  next(): SessionPlan | undefined {
    const r = this.records[this.i];
    if (!r) return undefined;
    const n = this.i++;
    return {
      sessionId: `t${String(n).padStart(7, "0")}`,
      clientId: `trace-${n}`,
      profile: "trace",
      startUs: r.offsetUs,
      priority: "normal",
      stream: true,
      ignoreEos: true,
      mode: "completion",
      turns: [
        {
          turnIndex: 0,
          promptTokens: Math.max(1, r.inputTokens),
          ...(r.hashIds ? { hashIds: r.hashIds } : {}),
          maxOutputTokens: Math.min(this.maxOutputTokensCap, Math.max(1, r.outputTokens)),
          delayUs: 0,
        },
      ],
    };
  }
}
