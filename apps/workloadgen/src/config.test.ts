import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "./config";

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "wg-config-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const profileYaml = `
client_profiles:
  - profile_name: chat
    weight: 1
    inter_arrival_time_dist_config: { type: Poisson, rate: 10 }
    prompt_tokens_dist_config: { type: LogNormal, mean: 128, sigma: 64, is_int: true }
    max_output_tokens_dist_config: { type: Constant, value: 64 }
`;

describe("parseConfig", () => {
  it("no flags -> documented defaults", () => {
    expect(parseConfig([])).toMatchObject({
      workload: "closed",
      target: "127.0.0.1:50051",
      numClients: 10,
      readSpeed: 25,
      typeSpeed: 6,
      duration: 60,
      maxRequests: Infinity,
      timeScale: 1,
      hints: true,
      seed: 0,
    });
  });

  it("warm-up + cool-down covering the whole run -> UsageError naming both flags", () => {
    expect(() => parseConfig(["--duration", "20", "--warmup", "10", "--cooldown", "10"])).toThrow(
      /--warmup 10 s \+ --cooldown 10 s leave no measurement window in --duration 20 s/,
    );
    expect(parseConfig(["--duration", "20", "--warmup", "5", "--cooldown", "5"]).warmup).toBe(5);
  });

  it.each([
    [["--target", "grpc://10.0.0.5:7000"], "10.0.0.5:7000"],
    [["--target", "localhost:81"], "localhost:81"],
    [["--scheduler-ip", "h", "--scheduler-port", "9"], "h:9"],
  ])("target flags %j -> %s", (argv, target) => {
    expect(parseConfig(argv).target).toBe(target);
  });

  it("--no-hints, --duration 0, --max-requests 5 -> hints off, no time limit, 5 requests", () => {
    expect(parseConfig(["--no-hints", "--duration", "0", "--max-requests", "5"])).toMatchObject({
      hints: false,
      duration: Infinity,
      maxRequests: 5,
    });
  });

  it("config file with client_profiles -> open loop with the file's values", () => {
    const path = file("open.yaml", `workload:\n  total_duration: 120\n  seed: 9\n${profileYaml}`);
    const c = parseConfig(["--config", path]);
    expect(c).toMatchObject({ workload: "open", totalDuration: 120, seed: 9 });
    expect(c.clientProfiles[0]).toMatchObject({
      profile_name: "chat",
      conversational_probability: 0,
      priority: "normal",
    });
  });

  it("the design's layout: client_profiles nested under workload: -> the same config as at the top level", () => {
    const nested = `workload:\n  total_duration: 120\n  seed: 9\n${profileYaml.replace(/^/gm, "  ").trimEnd()}\n`;
    const top = `workload:\n  total_duration: 120\n  seed: 9\n${profileYaml}`;
    const a = parseConfig(["--config", file("nested.yaml", nested)]);
    const b = parseConfig(["--config", file("top.yaml", top)]);
    expect(a).toMatchObject({ workload: "open", totalDuration: 120, seed: 9 });
    expect(a.clientProfiles).toEqual(b.clientProfiles);
    expect(a.clientProfiles).toHaveLength(1);
  });

  it("client_profiles both at the top level and under workload: -> UsageError naming the file and key", () => {
    const both = `workload:\n${profileYaml.replace(/^/gm, "  ").trimEnd()}\n${profileYaml}`;
    const path = file("both.yaml", both);
    expect(() => parseConfig(["--config", path])).toThrow(UsageError);
    expect(() => parseConfig(["--config", path])).toThrow(
      /both\.yaml: client_profiles is given both at the top level and under workload: keep one of them/,
    );
  });

  it("flag and file both set -> the flag wins", () => {
    const path = file(
      "closed.yaml",
      "workload:\n  type: closed\n  num_clients: 4\n  seed: 3\n  time_scale: 10\n",
    );
    expect(parseConfig(["--config", path, "--num-clients", "7"])).toMatchObject({
      numClients: 7,
      seed: 3,
      timeScale: 10,
    });
  });

  it.each([
    [
      "bad distribution",
      `${profileYaml.replace("mean: 128", "mean: -5")}`,
      /bad\.yaml: client_profiles\[0\]\.prompt_tokens_dist_config\.mean: /,
    ],
    ["unknown key", "workload:\n  nmu_clients: 3\n", /bad\.yaml: workload: .*nmu_clients/],
    [
      "weight not a number",
      profileYaml.replace("weight: 1", "weight: heavy"),
      /bad\.yaml: client_profiles\[0\]\.weight: /,
    ],
    ["invalid YAML", "workload: [", /bad\.yaml: invalid YAML/],
    [
      "zero inter-arrival times",
      profileYaml.replace("{ type: Poisson, rate: 10 }", "{ type: Constant, value: 0 }"),
      /bad\.yaml: client_profiles\[0\]\.inter_arrival_time_dist_config\.value: inter-arrival times must be > 0 s, but every sample is <= 0, so the plan would never advance$/,
    ],
  ])("config with %s -> UsageError naming file and key", (_name, text, pattern) => {
    const path = file("bad.yaml", text);
    expect(() => parseConfig(["--config", path])).toThrow(UsageError);
    expect(() => parseConfig(["--config", path])).toThrow(pattern);
  });

  it("two problems -> one line each", () => {
    const path = file(
      "two.yaml",
      profileYaml.replace("weight: 1", "weight: -1").replace("value: 64", "value: x"),
    );
    try {
      parseConfig(["--config", path]);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.split("\n")).toHaveLength(2);
    }
  });

  it.each([
    [["--workload", "open"], /--workload open needs client_profiles/],
    [["--workload", "trace"], /--workload trace needs --trace/],
    [["--target", "ftp://x:1"], /--target: expected grpc:\/\/host:port or http:\/\/host:port\/v1/],
    [["--slo", "ttft=fast"], /expected metric=value\[unit\] items/],
    [["--header", "no-colon"], /expected 'Name: value'/],
    [["--config", "/nonexistent/x.yaml"], /x\.yaml: cannot read config: no such file/],
  ])("%j -> a precise UsageError", (argv, pattern) => {
    expect(() => parseConfig(argv)).toThrow(pattern);
  });
});

describe("parseConfig, run length", () => {
  it.each([
    [["--workload", "closed"], 60],
    [["--trace", "t.csv"], Infinity],
    [["--trace", "t.csv", "--duration", "5"], 5],
  ])("%j -> duration %d s", (argv, duration) => {
    expect(parseConfig(argv).duration).toBe(duration);
  });
});

describe("parseConfig, --workers", () => {
  it("no flag -> 1 (the main thread sends)", () => {
    expect(parseConfig([]).workers).toBe(1);
  });
  it("--workers 4 -> 4", () => {
    expect(parseConfig(["--workers", "4"]).workers).toBe(4);
  });
  it.each(["0", "65", "two", "1.5"])("--workers %s -> error naming the flag and the range", (value) => {
    expect(() => parseConfig(["--workers", value])).toThrow(
      /option '--workers <n>' argument '.*' is invalid/,
    );
  });
});

describe("parseConfig, --timer-spin-ms", () => {
  it.each([
    [[], 1.5],
    [["--workers", "2"], 0],
    [["--workers", "2", "--timer-spin-ms", "1"], 1],
    [["--timer-spin-ms", "0"], 0],
    // Closed loop: at most one thread per client, so this runs on one thread (which polls).
    [["--workers", "2", "--num-clients", "1"], 1.5],
  ])("%j -> %d ms", (argv, spin) => {
    expect(parseConfig(argv).timerSpinMs).toBe(spin);
  });
  it("--timer-spin-ms -1 -> error naming the flag", () => {
    expect(() => parseConfig(["--timer-spin-ms", "-1"])).toThrow(
      /--timer-spin-ms <ms>' argument '-1' is invalid/,
    );
  });
});

describe("parseConfig, --timer-wake", () => {
  it.each([
    [[], "thread"],
    [["--timer-wake", "timeout"], "timeout"],
    [["--timer-wake", "thread", "--workers", "2"], "thread"],
  ])("%j -> %s", (argv, wake) => {
    expect(parseConfig(argv).timerWake).toBe(wake);
  });
  it("--timer-wake spin -> error naming the flag and the choices", () => {
    expect(() => parseConfig(["--timer-wake", "spin"])).toThrow(
      /--timer-wake <thread\|timeout>' argument 'spin' is invalid/,
    );
  });
});

describe("parseConfig, --ramp-up", () => {
  it("default -> 0 (every client at once); --ramp-up 30 -> 30", () => {
    expect(parseConfig([]).rampUp).toBe(0);
    expect(parseConfig(["--ramp-up", "30"]).rampUp).toBe(30);
  });
  it("workload.ramp_up in the file -> used unless the flag is given", () => {
    const path = file("ramp.yaml", "workload:\n  type: closed\n  ramp_up: 12\n");
    expect(parseConfig(["--config", path]).rampUp).toBe(12);
    expect(parseConfig(["--config", path, "--ramp-up", "3"]).rampUp).toBe(3);
  });
  it("--ramp-up -1 -> error naming the flag", () => {
    expect(() => parseConfig(["--ramp-up", "-1"])).toThrow(/--ramp-up <s>' argument '-1' is invalid/);
  });
});

describe("generated chats and think-time model", () => {
  it("default -> a dataset and the typing model", () => {
    expect(parseConfig([])).toMatchObject({ chatSynth: undefined, thinkTime: "typing" });
  });

  it("--sharegpt-synth --think-time chat-gaps -> the ShareGPT shape and measured gaps", () => {
    const c = parseConfig(["--sharegpt-synth", "--think-time", "chat-gaps"]);
    expect(c.chatSynth).toMatchObject({
      turnsGeometricP: 0.285,
      maxTurns: 40,
      promptMedianTokens: 40,
      replyMedianTokens: 275,
    });
    expect(c.thinkTime).toBe("chat-gaps");
  });

  it("workload.sharegpt_synth keys override the defaults, the rest stay", () => {
    const path = file(
      "synth.yaml",
      "workload:\n  think_time: chat-gaps\n  sharegpt_synth: { max_turns: 10, reply_median_tokens: 500, max_context_tokens: 4000 }\n",
    );
    const c = parseConfig(["--config", path]);
    expect(c.chatSynth).toMatchObject({
      maxTurns: 10,
      replyMedianTokens: 500,
      maxContextTokens: 4000,
      promptSigma: 1.3,
    });
    expect(c.thinkTime).toBe("chat-gaps");
  });

  it.each([
    [
      "sharegpt_synth: { turns_geometric_p: 1.5 }",
      "workload.sharegpt_synth: turnsGeometricP must be in (0, 1]",
    ],
    ["sharegpt_synth: { reply_min_tokens: 100, reply_max_tokens: 50 }", "replyMinTokens/replyMaxTokens"],
    ["sharegpt_synth: { unknown_key: 1 }", "unknown_key"],
  ])("bad generator shape %s -> one UsageError line naming it", (yaml, message) => {
    const path = file("bad-synth.yaml", `workload:\n  ${yaml}\n`);
    expect(() => parseConfig(["--config", path])).toThrow(UsageError);
    expect(() => parseConfig(["--config", path])).toThrow(message);
  });

  it("--sharegpt-synth with --dataset -> UsageError (one source of conversations)", () => {
    expect(() => parseConfig(["--sharegpt-synth", "--dataset", "x.json"])).toThrow(/keep one of them/);
  });

  it("--think-time bogus -> error naming the flag", () => {
    expect(() => parseConfig(["--think-time", "bogus"])).toThrow(/--think-time/);
  });
});
