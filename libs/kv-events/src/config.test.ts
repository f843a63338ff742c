import { describe, expect, it } from "vitest";
import {
  isZmqUrl,
  KvEventsConfigError,
  parseKvEventsConfig,
  publisherBinds,
  type KvEventsConfig,
} from "./config";

const DEFAULTS: KvEventsConfig = {
  enableKvCacheEvents: false,
  publisher: "null",
  endpoint: "tcp://*:5557",
  replayEndpoint: null,
  bufferSteps: 10000,
  hwm: 100000,
  maxQueueSize: 100000,
  topic: "",
  eventEncoding: "tagged_map",
};

describe("parseKvEventsConfig, valid", () => {
  it.each<[string, string, Partial<KvEventsConfig>]>([
    ["empty object → vLLM's defaults", "{}", {}],
    [
      "enabled → publisher zmq",
      `{"enable_kv_cache_events": true}`,
      { enableKvCacheEvents: true, publisher: "zmq" },
    ],
    [
      "enabled, publisher null (None) → derived zmq",
      `{"enable_kv_cache_events": true, "publisher": null}`,
      { enableKvCacheEvents: true, publisher: "zmq" },
    ],
    [
      "explicit publisher wins",
      `{"enable_kv_cache_events": true, "publisher": "null"}`,
      { enableKvCacheEvents: true, publisher: "null" },
    ],
    ["disabled, publisher zmq kept", `{"publisher": "zmq"}`, { publisher: "zmq" }],
    [
      "every key",
      `{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://127.0.0.1:*", "replay_endpoint": "tcp://127.0.0.1:5558",
        "buffer_steps": 5, "hwm": 0, "max_queue_size": 7, "topic": "kv@", "event_encoding": "array_like"}`,
      {
        enableKvCacheEvents: true,
        publisher: "zmq",
        endpoint: "tcp://127.0.0.1:*",
        replayEndpoint: "tcp://127.0.0.1:5558",
        bufferSteps: 5,
        hwm: 0,
        maxQueueSize: 7,
        topic: "kv@",
        eventEncoding: "array_like",
      },
    ],
    ["replay_endpoint null", `{"replay_endpoint": null}`, {}],
    ["ipc endpoint", `{"endpoint": "ipc:///tmp/kv"}`, { endpoint: "ipc:///tmp/kv" }],
    ["inproc endpoint", `{"endpoint": "inproc://kv"}`, { endpoint: "inproc://kv" }],
    ["ipv6 wildcard", `{"endpoint": "tcp://[::]:5557"}`, { endpoint: "tcp://[::]:5557" }],
    [
      "host name",
      `{"endpoint": "tcp://node-scheduler-0.svc:5557"}`,
      { endpoint: "tcp://node-scheduler-0.svc:5557" },
    ],
  ])("%s", (_name, json, want) => {
    expect(parseKvEventsConfig(json)).toEqual({ ...DEFAULTS, ...want });
  });
});

describe("parseKvEventsConfig, invalid → one line naming the key", () => {
  it.each<[string, string]>([
    ["not json", "kv-events-config: not JSON ("],
    ["{'enable_kv_cache_events': true}", "kv-events-config: not JSON ("],
    ["[]", "kv-events-config: expected a JSON object, got []"],
    ["null", "kv-events-config: expected a JSON object, got null"],
    ["3", "kv-events-config: expected a JSON object, got 3"],
    [
      `{"endpont": "tcp://*:1"}`,
      "kv-events-config: unknown key 'endpont' (known: enable_kv_cache_events, publisher, endpoint, replay_endpoint, buffer_steps, hwm, max_queue_size, topic, event_encoding)",
    ],
    [
      `{"enable_kv_cache_events": "true"}`,
      `kv-events-config.enable_kv_cache_events: expected true or false, got "true"`,
    ],
    [
      `{"enable_kv_cache_events": null}`,
      "kv-events-config.enable_kv_cache_events: expected true or false, got null",
    ],
    [`{"publisher": "kafka"}`, `kv-events-config.publisher: expected "zmq" or "null", got "kafka"`],
    [
      `{"endpoint": "localhost:5557"}`,
      `kv-events-config.endpoint: expected a zmq URL tcp://host:port, ipc://path or inproc://name, got "localhost:5557"`,
    ],
    [
      `{"endpoint": "tcp://127.0.0.1"}`,
      `kv-events-config.endpoint: expected a zmq URL tcp://host:port, ipc://path or inproc://name, got "tcp://127.0.0.1"`,
    ],
    [`{"endpoint": "tcp://127.0.0.1:70000"}`, `kv-events-config.endpoint: expected a zmq URL`],
    [
      `{"endpoint": null}`,
      "kv-events-config.endpoint: expected a zmq URL tcp://host:port, ipc://path or inproc://name, got null",
    ],
    [`{"endpoint": "ipc://"}`, `kv-events-config.endpoint: expected a zmq URL`],
    [
      `{"replay_endpoint": "http://x:1"}`,
      `kv-events-config.replay_endpoint: expected a zmq URL tcp://host:port, ipc://path or inproc://name, got "http://x:1"`,
    ],
    [`{"buffer_steps": 0}`, "kv-events-config.buffer_steps: expected an integer >= 1, got 0"],
    [`{"buffer_steps": 1.5}`, "kv-events-config.buffer_steps: expected an integer >= 1, got 1.5"],
    [`{"hwm": -1}`, "kv-events-config.hwm: expected a non-negative integer, got -1"],
    [`{"hwm": "100"}`, `kv-events-config.hwm: expected a non-negative integer, got "100"`],
    [`{"max_queue_size": 0}`, "kv-events-config.max_queue_size: expected an integer >= 1, got 0"],
    [`{"topic": 5}`, "kv-events-config.topic: expected a string, got 5"],
    [
      `{"event_encoding": "json"}`,
      `kv-events-config.event_encoding: expected "tagged_map" or "array_like", got "json"`,
    ],
  ])("%s", (json, want) => {
    let caught: unknown;
    try {
      parseKvEventsConfig(json);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KvEventsConfigError);
    const message = (caught as Error).message;
    expect(message.startsWith(want)).toBe(true);
    expect(message).not.toContain("\n");
  });
});

describe("publisherBinds (vLLM: bind on a wildcard or ipc/inproc, else connect)", () => {
  it.each<[string, boolean]>([
    ["tcp://*:5557", true],
    ["tcp://127.0.0.1:*", true],
    ["tcp://[::]:5557", true],
    ["ipc:///tmp/kv", true],
    ["inproc://kv", true],
    ["tcp://127.0.0.1:5557", false],
    ["tcp://scheduler:5557", false],
  ])("%s → %s", (endpoint, want) => {
    expect(publisherBinds(endpoint)).toBe(want);
    expect(isZmqUrl(endpoint)).toBe(true);
  });
});
