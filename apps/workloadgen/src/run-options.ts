import { InvalidArgumentError } from "commander";
import { UsageError } from "@symphony/common";
import type { Slo } from "@symphony/measure";
import type { TlsFiles } from "@symphony/runtime";

/**
 * Flags of the live run: the target (gRPC scheduler or any OpenAI-compatible HTTP
 * server), SLOs for goodput, measurement windows, early-stop rules and shutdown. Kept apart from
 * `config.ts` (the workload models' flags) so both can grow independently; `Config` extends this.
 */
export interface RunOptions {
  /** `grpc`: the Symphony scheduler (`target` = host:port); `http`: OpenAI API (`target` = base URL). */
  targetKind: "grpc" | "http";
  /** HTTP: chat completions or completions. */
  endpoint: "chat" | "completions";
  /** HTTP: model name; undefined = first of GET /models. */
  model: string | undefined;
  apiKey: string | undefined;
  /** gRPC: token sent as `authorization: Bearer` (the scheduler's --client-auth-token-file). */
  authToken: string | undefined;
  /** gRPC: TLS to the scheduler (caFile to trust; cert + key for mTLS); none = plaintext. */
  tls: TlsFiles;
  /** HTTP: extra request headers. */
  headers: Record<string, string>;
  /** HTTP: header carrying the session id (for session-affine routers); undefined = none. */
  sessionIdHeader: string | undefined;
  /** HTTP: send mock-vllm's `expected_response` field. */
  sendExpectedResponse: boolean;
  /** HTTP: keep-alive connections. */
  httpConnections: number;
  /** HTTP: our own HTTP/1.1 client or undici's. */
  httpClient: "native" | "undici";
  /** SLOs for goodput, ms; empty = no goodput figure. */
  slo: Slo;
  /** Seconds excluded from the statistics at the start / end (by send time). */
  warmup: number;
  cooldown: number;
  /**
   * Every record is kept for exact percentiles up to this many records; beyond, the statistics
   * come from bounded histograms (within 1%), so memory does not grow with the run (0 = always).
   */
  exactRecords: number;
  /** Stop after this many failed requests (Infinity = never). */
  maxErrors: number;
  /** Stop when failed / finished exceeds this (after at least 20 finished); Infinity = never. */
  maxErrorRate: number;
  /**
   * Seconds to wait for in-flight requests after SIGINT/SIGTERM, or after `--duration`, before
   * cancelling them (the run's hard end).
   */
  grace: number;
  /** Seconds without any byte (HTTP) or event (gRPC) on a streamed turn before it fails (0 = off). */
  idleTimeout: number;
  /**
   * The servers' side of the run (`--server-metrics`, `--reset-prefix-cache`); undefined when
   * neither is given (then nothing of it appears in the config echoed by summaries).
   */
  servers: ServerWatchOptions | undefined;
  /** Wall-clock instant (ms since the epoch) to start the schedule at; undefined = when ready. */
  startAt: number | undefined;
}

export interface ServerWatchOptions {
  /** Engines' and nodes' Prometheus /metrics URLs scraped during the run (server-metrics.jsonl). */
  metrics: string[];
  /** Seconds between scrapes of `metrics`. */
  intervalS: number;
  /** POST /reset_prefix_cache to each engine before the run (vLLM: needs VLLM_SERVER_DEV_MODE=1). */
  resetPrefixCache: boolean;
}

/** `grpc://host:port`, `host:port`, or `http(s)://host:port[/prefix]` -> kind + address. */
export function parseTarget(value: string): { kind: "grpc" | "http"; address: string } {
  const v = value.trim();
  if (/^https?:\/\//i.test(v)) {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      throw new UsageError(`--target: expected http://host:port/v1, got "${value}"`);
    }
    if (!url.port && !url.host)
      throw new UsageError(`--target: expected http://host:port/v1, got "${value}"`);
    // The OpenAI API lives under /v1: a bare origin means /v1.
    const path = url.pathname.replace(/\/+$/, "") || "/v1";
    return { kind: "http", address: `${url.origin}${path}` };
  }
  const m = /^(?:grpc:\/\/)?([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(v);
  if (!m || Number(m[2]) > 65535)
    throw new UsageError(`--target: expected grpc://host:port or http://host:port/v1, got "${value}"`);
  return { kind: "grpc", address: `${m[1]}:${m[2]}` };
}

const DURATION_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** `ttft=500ms,tpot=50ms,e2el=10s` -> ms per metric (unit defaults to ms, as vLLM's --goodput). */
export function parseSlo(value: string): Slo {
  const slo: Slo = {};
  for (const part of value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(ttft|tpot|e2el)\s*[=:]\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m)?$/i.exec(part);
    if (!m)
      throw new InvalidArgumentError(
        `expected metric=value[unit] items like ttft=500ms,tpot=50ms,e2el=10s (metrics: ttft, tpot, e2el; units: us, ms, s, m), got "${part}"`,
      );
    slo[m[1]!.toLowerCase() as keyof Slo] = Number(m[2]) * DURATION_UNITS[(m[3] ?? "ms").toLowerCase()]!;
  }
  return slo;
}

/** `--start-at`: ISO 8601 (with a zone) or seconds since the epoch -> ms since the epoch. */
export function parseStartAt(value: string): number {
  const v = value.trim();
  const ms = /^\d+(\.\d+)?$/.test(v)
    ? Number(v) * 1000
    : /\d{4}-\d\d-\d\dT.*(Z|[+-]\d\d:?\d\d)$/i.test(v)
      ? Date.parse(v)
      : NaN;
  if (!Number.isFinite(ms))
    throw new InvalidArgumentError(
      `expected an ISO 8601 time with its zone (2026-12-06T14:00:00Z) or seconds since the epoch, got "${value}"`,
    );
  return ms;
}

/** `Name: value` -> [name, value]; collected over repeated --header flags. */
export function collectHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf(":");
  const name = i > 0 ? value.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
    throw new InvalidArgumentError(`expected 'Name: value', got "${value}"`);
  return { ...previous, [name.toLowerCase()]: value.slice(i + 1).trim() };
}
