import { Option, type Command } from "commander";
import { InvalidArgumentError } from "commander";
import { UsageError } from "@symphony/common";
import type { Slo } from "@symphony/measure";
import { CLIENT_AUTH_TOKEN_ENV, loadTokens, parseArg, type TlsFiles } from "@symphony/runtime";
import { parseMetricsUrls } from "./transport/server-metrics";

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
function collectHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const i = value.indexOf(":");
  const name = i > 0 ? value.slice(0, i).trim() : "";
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
    throw new InvalidArgumentError(`expected 'Name: value', got "${value}"`);
  return { ...previous, [name.toLowerCase()]: value.slice(i + 1).trim() };
}

/** Adds the run flags to the program (call before parse). */
export function addRunOptions(program: Command): Command {
  return program
    .addOption(
      new Option("--endpoint <api>", "HTTP target: OpenAI API to call")
        .choices(["chat", "completions"])
        .default("chat"),
    )
    .option("--model <name>", "HTTP target: model name (default: the first of GET /v1/models)")
    .option("--api-key <key>", "HTTP target: bearer token (default: $OPENAI_API_KEY if set, else none)")
    .option(
      "--auth-token-file <path>",
      `file whose first token is sent as "authorization: Bearer" (gRPC: the scheduler's --client-auth-token-file; ` +
        `HTTP: when no --api-key) (default: $${CLIENT_AUTH_TOKEN_ENV}, else none)`,
    )
    .option("--tls-ca <path>", "gRPC target: connect over TLS, trusting this PEM CA bundle")
    .option("--tls-cert <path>", "gRPC target: client certificate for mTLS (with --tls-key)")
    .option("--tls-key <path>", "gRPC target: private key of --tls-cert")
    .addOption(
      new Option("--header <'Name: value'>", "HTTP target: extra request header (repeatable)")
        .argParser(collectHeader)
        .default({}, "none"),
    )
    .option(
      "--session-id-header <name>",
      "HTTP target: send the session id in this header (e.g. x-session-id for routers; default: none)",
    )
    .option(
      "--send-expected-response",
      "HTTP target: send the dataset reply as expected_response (mock-vllm replays it)",
      false,
    )
    .option("--http-connections <n>", "HTTP target: keep-alive connections", parseArg.int(1, 100_000), 1024)
    .option(
      "--slo <list>",
      "SLOs for goodput, e.g. ttft=500ms,tpot=50ms,e2el=10s (default: none, no goodput)",
      parseSlo,
    )
    .option(
      "--warmup <s>",
      "exclude requests sent in the first s seconds from the statistics",
      parseArg.number(0),
      0,
    )
    .option(
      "--cooldown <s>",
      "exclude requests sent in the last s seconds from the statistics",
      parseArg.number(0),
      0,
    )
    .option(
      "--exact-records <n>",
      "keep every record for exact percentiles up to n records; beyond, bounded histograms within 1% " +
        "(summary.json percentiles: exact or hdr(1%); 0 = histograms from the start)",
      parseArg.int(0),
      250_000,
    )
    .option("--max-errors <n>", "stop after this many failed requests (0 = no limit)", parseArg.int(0), 0)
    .option(
      "--max-error-rate <f>",
      "stop when failed/finished exceeds this, once 20 finished (0 = off)",
      parseArg.number(0, 1),
      0,
    )
    .option(
      "--grace <s>",
      "after --duration, or on SIGINT/SIGTERM: wait this long for in-flight requests, then cancel them " +
        "(recorded as CANCELLED): --duration + --grace is a hard end",
      parseArg.number(0),
      5,
    )
    .option(
      "--idle-timeout <s>",
      "fail a streamed turn (IDLE_TIMEOUT) when no byte (HTTP) or event (gRPC) arrived for this long (0 = off)",
      parseArg.number(0),
      60,
    )
    .option(
      "--server-metrics <urls>",
      "engines' and nodes' Prometheus endpoints (host:port or URL, comma-separated) to scrape during the " +
        "run: server-metrics.jsonl, KV usage / queue / prefix-cache hit rate in the report, warm-cache check (default: none)",
      parseMetricsUrls,
    )
    .option(
      "--server-metrics-interval <s>",
      "seconds between --server-metrics scrapes",
      parseArg.number(0.05),
      1,
    )
    .option(
      "--start-at <time>",
      "start the schedule at this wall-clock instant (ISO 8601, or seconds since the epoch), after " +
        "connecting: shards on several machines start together (default: when ready)",
      parseStartAt,
    )
    .option(
      "--reset-prefix-cache",
      "POST /reset_prefix_cache to each engine (the HTTP --target, --server-metrics engines) before the run " +
        "(vLLM serves it only with VLLM_SERVER_DEV_MODE=1)",
      false,
    );
}

/** The run options from parsed flags; `target` is the --target value, if given. */
export function runOptionsFrom(
  o: Record<string, unknown>,
  target: string | undefined,
): { options: RunOptions; address: string | undefined } {
  const parsed = target === undefined ? undefined : parseTarget(target);
  const authToken = loadTokens(
    o.authTokenFile as string | undefined,
    "--auth-token-file",
    process.env[CLIENT_AUTH_TOKEN_ENV],
  )[0];
  const tls: TlsFiles = {
    caFile: o.tlsCa as string | undefined,
    certFile: o.tlsCert as string | undefined,
    keyFile: o.tlsKey as string | undefined,
  };
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw new UsageError("--tls-cert and --tls-key go together (a client certificate needs its key)");
  if (tls.certFile !== undefined && tls.caFile === undefined)
    throw new UsageError(
      "--tls-cert/--tls-key (mTLS) need --tls-ca (the CA that signed the scheduler's certificate)",
    );
  return {
    address: parsed?.address,
    options: {
      targetKind: parsed?.kind ?? "grpc",
      endpoint: o.endpoint as "chat" | "completions",
      model: o.model as string | undefined,
      apiKey: (o.apiKey as string | undefined) ?? (process.env.OPENAI_API_KEY || authToken),
      authToken,
      tls,
      headers: o.header as Record<string, string>,
      sessionIdHeader: o.sessionIdHeader as string | undefined,
      sendExpectedResponse: o.sendExpectedResponse as boolean,
      httpConnections: o.httpConnections as number,
      slo: (o.slo as Slo | undefined) ?? {},
      warmup: o.warmup as number,
      cooldown: o.cooldown as number,
      exactRecords: o.exactRecords as number,
      maxErrors: (o.maxErrors as number) === 0 ? Infinity : (o.maxErrors as number),
      maxErrorRate: (o.maxErrorRate as number) === 0 ? Infinity : (o.maxErrorRate as number),
      grace: o.grace as number,
      idleTimeout: o.idleTimeout as number,
      servers:
        o.serverMetrics !== undefined || o.resetPrefixCache === true
          ? {
              metrics: (o.serverMetrics as string[] | undefined) ?? [],
              intervalS: o.serverMetricsInterval as number,
              resetPrefixCache: o.resetPrefixCache as boolean,
            }
          : undefined,
      startAt: o.startAt as number | undefined,
    },
  };
}
