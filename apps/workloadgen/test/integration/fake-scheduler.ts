import { countTokens } from "@symphony/common";
import {
  SchedulerServiceService,
  startGrpcServer,
  type CloseSessionRequest,
  type InferenceRequest,
  type SchedulerServiceServer,
  type SessionHint,
  type StartedGrpcServer,
} from "@symphony/runtime";

/** The fake's reply: NOT the expected response, so the test can see the client sends what it received. */
export const reply = (req: InferenceRequest) =>
  `reply to ${req.requestId}: ${(req.expectedResponse ?? "").slice(0, 40)}`;
export const FAILING_SESSION = "s000002";

export interface FakeScheduler {
  server: StartedGrpcServer;
  submits: InferenceRequest[];
  hints: SessionHint[];
  closes: CloseSessionRequest[];
}

/** A SchedulerService on port 0 with canned streams; records every call. */
export async function startFakeScheduler(): Promise<FakeScheduler> {
  const submits: InferenceRequest[] = [];
  const hints: SessionHint[] = [];
  const closes: CloseSessionRequest[] = [];
  const impl: SchedulerServiceServer = {
    submit: (call) => {
      const req = call.request;
      submits.push(req);
      call.write({
        event: { $case: "started", value: { nodeId: "fake-node", queueTimeUs: 1500, kvTier: "new" } },
      });
      if (req.sessionId === FAILING_SESSION) {
        call.write({
          event: { $case: "error", value: { code: "UNAVAILABLE", message: "no node", retryable: true } },
        });
        call.end();
        return;
      }
      const text = reply(req);
      const words = text.split(/(?= )/);
      let i = 0;
      const tick = setInterval(() => {
        if (i < words.length) {
          call.write({
            event: {
              $case: "token",
              value: { text: words[i]!, tokenCount: countTokens(words[i]!), reasoning: false },
            },
          });
          i++;
          return;
        }
        clearInterval(tick);
        call.write({
          event: {
            $case: "finished",
            value: {
              usage: { promptTokens: 100, completionTokens: countTokens(text), cachedTokens: 40 },
              finishReason: "stop",
              nodeId: "fake-node",
              timings: undefined,
            },
          },
        });
        call.end();
      }, 1);
    },
    advise: (call, cb) => {
      hints.push(call.request);
      cb(null, { accepted: true, nodeId: "fake-node" });
    },
    closeSession: (call, cb) => {
      closes.push(call.request);
      cb(null, { released: true, releasedKvTokens: 0 });
    },
    registerNode: (_c, cb) => cb(null, { heartbeatIntervalMs: 1000 }),
    heartbeat: (_c, cb) => cb(null, { known: true }),
    clusterStatus: (_c, cb) => cb(null, { nodes: [], policy: "fake" }),
  };
  const server = await startGrpcServer("127.0.0.1", 0, (s) => s.addService(SchedulerServiceService, impl));
  return { server, submits, hints, closes };
}
