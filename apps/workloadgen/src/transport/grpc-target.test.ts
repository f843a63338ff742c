import * as grpc from "@grpc/grpc-js";
import {
  createLogger,
  SchedulerServiceService,
  startGrpcServer,
  type SchedulerServiceServer,
  type StartedGrpcServer,
} from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TurnFailure, TurnRequest } from "../domain";
import { GrpcSchedulerTarget } from "./grpc-target";

const turn = (sessionId: string, stream = true): TurnRequest => ({
  requestId: `${sessionId}-0`,
  clientId: "c1",
  sessionId,
  turnIndex: 0,
  messages: [{ role: "user", content: "hi" }],
  promptTokens: 1,
  maxOutputTokens: 4,
  stream,
  priority: "normal",
  isLast: false,
  ignoreEos: false,
});

/** Runs a turn to its end: the tokens seen, and the failure (if any) with when it came. */
function play(t: GrpcSchedulerTarget, req: TurnRequest) {
  const t0 = performance.now();
  return new Promise<{ tokens: string[]; failed?: TurnFailure; finished: boolean; ms: number }>((resolve) => {
    const tokens: string[] = [];
    t.submit(req, {
      started: () => {},
      token: (text) => tokens.push(text),
      finished: () => resolve({ tokens, finished: true, ms: performance.now() - t0 }),
      failed: (failed) => resolve({ tokens, failed, finished: false, ms: performance.now() - t0 }),
    });
  });
}

describe("GrpcSchedulerTarget against an in-process scheduler", () => {
  let server: StartedGrpcServer;
  const metadata: grpc.Metadata[] = [];
  const cancelled: string[] = [];

  beforeAll(async () => {
    const impl: Partial<SchedulerServiceServer> = {
      submit: (call) => {
        metadata.push(call.metadata);
        const { sessionId } = call.request;
        call.on("cancelled", () => cancelled.push(sessionId));
        call.write({ event: { $case: "started", value: { nodeId: "n", queueTimeUs: 0, kvTier: "new" } } });
        call.write({ event: { $case: "token", value: { text: "one", tokenCount: 1, reasoning: false } } });
        if (sessionId.startsWith("stall")) return; // silence, the call stays open
        setTimeout(() => {
          call.write({
            event: {
              $case: "finished",
              value: {
                nodeId: "n",
                finishReason: "stop",
                usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
              },
            },
          });
          call.end();
        }, 600);
      },
    };
    server = await startGrpcServer("127.0.0.1", 0, (s) =>
      s.addService(SchedulerServiceService, impl as SchedulerServiceServer),
    );
  });
  afterAll(() => server?.stop(100));

  const target = (idleTimeoutMs: number, authToken?: string) =>
    new GrpcSchedulerTarget(`127.0.0.1:${server.port}`, createLogger("test", "error"), 0, {
      idleTimeoutMs,
      ...(authToken ? { authToken } : {}),
    });

  it("stream stalls after a token, --idle-timeout 0.3 s -> IDLE_TIMEOUT after about 0.3 s, the call cancelled", async () => {
    const t = target(300);
    const r = await play(t, turn("stall-1"));
    expect(r.tokens).toEqual(["one"]);
    expect(r.failed).toEqual({
      code: "IDLE_TIMEOUT",
      message: "no event from the scheduler for 0.3 s on a streamed turn (--idle-timeout)",
    });
    expect(r.ms).toBeGreaterThanOrEqual(290);
    expect(r.ms).toBeLessThan(1500);
    await new Promise((res) => setTimeout(res, 100));
    expect(cancelled).toContain("stall-1");
    await t.close();
  });

  it("a gap shorter than the idle timeout -> finishes; a non-streamed turn is not watched", async () => {
    const t = target(1000);
    expect((await play(t, turn("slow-ok"))).finished).toBe(true);
    const quick = target(100);
    expect((await play(quick, turn("slow-whole", false))).finished).toBe(true);
    await Promise.all([t.close(), quick.close()]);
  });

  it("--auth-token-file -> every call carries authorization: Bearer <token>", async () => {
    const t = target(0, "s3cret");
    await play(t, turn("authed"));
    expect(metadata.at(-1)!.get("authorization")).toEqual(["Bearer s3cret"]);
    await t.close();
  });
});
