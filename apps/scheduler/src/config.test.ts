import { CommanderError } from "commander";
import { UsageError } from "@symphony/common";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "./config";

describe("parseConfig", () => {
  it("no flags -> documented defaults", () => {
    expect(parseConfig([])).toMatchObject({
      host: "127.0.0.1",
      port: 50051,
      nodes: [],
      policy: "session-affinity",
      heartbeatTimeoutMs: 3000,
    });
  });

  it("--nodes list and --policy -> parsed", () => {
    const c = parseConfig(["--nodes", "a:1, b:2", "--policy", "kv-aware", "--port", "0"]);
    expect(c).toMatchObject({ nodes: ["a:1", "b:2"], policy: "kv-aware", port: 0 });
  });

  it.each([
    [["--policy", "random"]],
    [["--nodes", "nohost"]],
    [["--port", "70000"]],
    [["--overload-kv-fraction", "2"]],
  ])("bad flag %j -> commander error (exit 2 via runCli)", (argv) => {
    expect(() => parseConfig(argv)).toThrow(CommanderError);
  });

  it.each([
    [
      ["--heartbeat-interval-ms", "5000", "--heartbeat-timeout-ms", "1000"],
      /--heartbeat-timeout-ms \(1000\) must exceed/,
    ],
    [["--target-kv-fraction", "0.95"], /--target-kv-fraction \(0.95\) must be below --overload-kv-fraction/],
  ])("inconsistent flags %j -> UsageError naming both", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(UsageError);
    expect(() => parseConfig(argv)).toThrow(message);
  });

  describe("auth and TLS", () => {
    const dir = mkdtempSync(join(tmpdir(), "sched-config-"));
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    afterEach(() => vi.unstubAllEnvs());

    it("no token flag or env -> auth off", () => {
      vi.stubEnv("SYMPHONY_AUTH_TOKEN", "");
      vi.stubEnv("SYMPHONY_CLIENT_AUTH_TOKEN", "");
      expect(parseConfig([])).toMatchObject({ nodeAuthTokens: [], clientAuthTokens: [] });
    });

    it("token files (comments, blank lines) and env -> the tokens", () => {
      vi.stubEnv("SYMPHONY_AUTH_TOKEN", "from-env");
      expect(parseConfig([]).nodeAuthTokens).toEqual(["from-env"]);
      const c = parseConfig([
        "--auth-token-file",
        file("nodes", "# nodes\nnode-secret\n\n"),
        "--client-auth-token-file",
        file("clients", "alice-secret\nbob-secret\n"),
      ]);
      expect(c.nodeAuthTokens).toEqual(["node-secret"]);
      expect(c.clientAuthTokens).toEqual(["alice-secret", "bob-secret"]);
    });

    it.each([
      [["--auth-token-file", "/nonexistent/tokens"], /--auth-token-file: cannot read/],
      [["--client-auth-token-file", "EMPTY"], /--client-auth-token-file: .* holds no token/],
      [["--tls-cert", "c.pem"], /--tls-cert and --tls-key go together/],
      [["--tls-ca", "ca.pem"], /--tls-ca \(mTLS\) needs --tls-cert/],
    ])("bad auth/TLS flags %j -> UsageError naming the flag", (argv, message) => {
      const args = argv.map((a) => (a === "EMPTY" ? file("empty", "\n# nothing\n") : a));
      expect(() => parseConfig(args)).toThrow(UsageError);
      expect(() => parseConfig(args)).toThrow(message);
    });
  });
});
