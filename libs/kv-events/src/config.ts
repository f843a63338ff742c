/**
 * vLLM's `--kv-events-config` JSON (vllm/config/kv_events.py `KVEventsConfig`), plus one key of ours,
 * `event_encoding`. Keys are vLLM's snake_case; the parsed object is camelCase.
 */
import { EVENT_ENCODINGS, type EventEncoding } from "./types";

export interface KvEventsConfig {
  /** `enable_kv_cache_events` (default false). */
  enableKvCacheEvents: boolean;
  /** `publisher`: "zmq" when events are enabled, else "null" (vLLM derives it when unset). */
  publisher: "null" | "zmq";
  /** `endpoint` (default "tcp://*:5557"): the PUB binds it or connects to it, see {@link publisherBinds}. */
  endpoint: string;
  /** `replay_endpoint` (default null): the ROUTER that answers replay requests always binds it. */
  replayEndpoint: string | null;
  /** `buffer_steps` (default 10000): batches kept for replay. */
  bufferSteps: number;
  /** `hwm` (default 100000): the PUB socket's send high-water mark. */
  hwm: number;
  /** `max_queue_size` (default 100000): batches queued between the engine and the publisher. */
  maxQueueSize: number;
  /** `topic` (default ""): the first frame of every message. */
  topic: string;
  /** `event_encoding` (ours; default "tagged_map"): how the msgpack payload is laid out. */
  eventEncoding: EventEncoding;
}

/** A bad `--kv-events-config`: one line naming the key and what was expected. */
export class KvEventsConfigError extends Error {
  override name = "KvEventsConfigError";
}

const KNOWN_KEYS = [
  "enable_kv_cache_events",
  "publisher",
  "endpoint",
  "replay_endpoint",
  "buffer_steps",
  "hwm",
  "max_queue_size",
  "topic",
  "event_encoding",
] as const;

export const DEFAULT_KV_EVENTS_ENDPOINT = "tcp://*:5557";

/** Parses `--kv-events-config '{...}'`; unset keys take vLLM's defaults. */
export function parseKvEventsConfig(json: string): KvEventsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new KvEventsConfigError(`kv-events-config: not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new KvEventsConfigError(`kv-events-config: expected a JSON object, got ${show(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      throw new KvEventsConfigError(
        `kv-events-config: unknown key '${key}' (known: ${KNOWN_KEYS.join(", ")})`,
      );
    }
  }
  const get = (key: (typeof KNOWN_KEYS)[number]): unknown => (Object.hasOwn(obj, key) ? obj[key] : undefined);

  const enableKvCacheEvents = optional(get("enable_kv_cache_events"), false, (v) =>
    typeof v === "boolean" ? v : bad("enable_kv_cache_events", "expected true or false", v),
  );
  // vLLM: publisher None -> "zmq" if enable_kv_cache_events else "null".
  const publisher = optionalOrNull(get("publisher"), enableKvCacheEvents ? "zmq" : "null", (v) =>
    v === "zmq" || v === "null" ? v : bad("publisher", `expected "zmq" or "null"`, v),
  );
  const endpoint = optional(get("endpoint"), DEFAULT_KV_EVENTS_ENDPOINT, (v) => zmqUrl("endpoint", v));
  const replayEndpoint = optionalOrNull<string | null>(get("replay_endpoint"), null, (v) =>
    zmqUrl("replay_endpoint", v),
  );
  const bufferSteps = optional(get("buffer_steps"), 10_000, (v) => int("buffer_steps", v, 1));
  const hwm = optional(get("hwm"), 100_000, (v) => int("hwm", v, 0));
  const maxQueueSize = optional(get("max_queue_size"), 100_000, (v) => int("max_queue_size", v, 1));
  const topic = optional(get("topic"), "", (v) =>
    typeof v === "string" ? v : bad("topic", "expected a string", v),
  );
  const eventEncoding = optional(get("event_encoding"), "tagged_map" as EventEncoding, (v) =>
    (EVENT_ENCODINGS as readonly unknown[]).includes(v)
      ? (v as EventEncoding)
      : bad("event_encoding", `expected ${EVENT_ENCODINGS.map((e) => `"${e}"`).join(" or ")}`, v),
  );
  return {
    enableKvCacheEvents,
    publisher,
    endpoint,
    replayEndpoint,
    bufferSteps,
    hwm,
    maxQueueSize,
    topic,
    eventEncoding,
  };
}

/**
 * vLLM's publisher heuristic ("bind stable, connect volatile"): the PUB binds when the endpoint
 * has a wildcard (`*`, `::`) or is `ipc://` / `inproc://`, otherwise it connects to a consumer that
 * bound a SUB. `tcp://127.0.0.1:*` contains `*`, so it binds an ephemeral loopback port.
 */
export function publisherBinds(endpoint: string): boolean {
  return (
    endpoint.includes("*") ||
    endpoint.includes("::") ||
    endpoint.startsWith("ipc://") ||
    endpoint.startsWith("inproc://")
  );
}

const TCP_URL = /^tcp:\/\/(\*|\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+(?:;[A-Za-z0-9_.-]+)?):(\*|\d{1,5})$/;

/** Whether `v` is a zmq URL we accept: tcp://host:port (port may be `*`), ipc://path, inproc://name. */
export function isZmqUrl(v: string): boolean {
  const m = TCP_URL.exec(v);
  if (m) return m[2] === "*" || Number(m[2]) <= 65535;
  return /^ipc:\/\/.+$/.test(v) || /^inproc:\/\/.+$/.test(v);
}

function zmqUrl(key: string, v: unknown): string {
  if (typeof v === "string" && isZmqUrl(v)) return v;
  return bad(key, "expected a zmq URL tcp://host:port, ipc://path or inproc://name", v);
}

function int(key: string, v: unknown, min: number): number {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= min) return v;
  return bad(key, min === 0 ? "expected a non-negative integer" : `expected an integer >= ${min}`, v);
}

/** An absent key takes the default; null is a value (and rejected by `parse`) for vLLM's non-Optional fields. */
function optional<T>(v: unknown, dflt: T, parse: (v: unknown) => T): T {
  return v === undefined ? dflt : parse(v);
}

/** vLLM's `Optional` fields: null means "unset", as an absent key does. */
function optionalOrNull<T>(v: unknown, dflt: T, parse: (v: unknown) => T): T {
  return v === undefined || v === null ? dflt : parse(v);
}

function bad(key: string, expected: string, got: unknown): never {
  throw new KvEventsConfigError(`kv-events-config.${key}: ${expected}, got ${show(got)}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 60) + "…" : s;
}
