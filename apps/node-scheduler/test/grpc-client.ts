import * as grpc from "@grpc/grpc-js";
import {
  grpcClientOptions,
  InferenceRequest,
  NodeSchedulerServiceClient,
  Role,
  type AdviseResponse,
  type CloseSessionResponse,
  type InferenceEvent,
  type NodeStatus,
  type SessionHint,
} from "@symphony/runtime";

export function nodeClient(port: number): NodeSchedulerServiceClient {
  return new NodeSchedulerServiceClient(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
    grpcClientOptions,
  );
}

/** A valid chat turn with overridable fields. */
export function chatTurn(overrides: Partial<InferenceRequest> = {}): InferenceRequest {
  return InferenceRequest.fromPartial({
    requestId: `r-${Math.floor(performance.now() * 1000)}-${Math.random().toString(36).slice(2)}`,
    sessionId: "s-1",
    messages: [{ role: Role.ROLE_USER, content: "Hello there, how are you?" }],
    maxOutputTokens: 16,
    stream: true,
    ...overrides,
  });
}

/** Runs one Submit to the end and returns every event (rejects on a gRPC-level error). */
export function submit(
  client: NodeSchedulerServiceClient,
  req: InferenceRequest,
  options: Partial<grpc.CallOptions> = {},
): Promise<InferenceEvent[]> {
  return new Promise((resolve, reject) => {
    const events: InferenceEvent[] = [];
    const call = client.submit(req, new grpc.Metadata(), { deadline: Date.now() + 30_000, ...options });
    call.on("data", (e: InferenceEvent) => events.push(e));
    call.on("error", reject);
    call.on("end", () => resolve(events));
  });
}

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;

function promised<Res>(run: (cb: Callback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => run((err, res) => (err ? reject(err) : resolve(res))));
}

export function status(client: NodeSchedulerServiceClient): Promise<NodeStatus> {
  return promised<NodeStatus>((cb) => client.status({}, cb));
}

export function advise(
  client: NodeSchedulerServiceClient,
  hint: Partial<SessionHint>,
): Promise<AdviseResponse> {
  const full: SessionHint = {
    sessionId: "",
    clientId: "",
    expectedArrivalMs: 0,
    expectedPromptTokens: 0,
    nextTurnIndex: 0,
    ...hint,
  };
  return promised<AdviseResponse>((cb) => client.advise(full, cb));
}

export function closeSession(
  client: NodeSchedulerServiceClient,
  sessionId: string,
): Promise<CloseSessionResponse> {
  return promised<CloseSessionResponse>((cb) => client.closeSession({ sessionId }, cb));
}

/** The single terminal event of a turn. */
export function terminal(events: InferenceEvent[]): InferenceEvent["event"] {
  return events[events.length - 1]?.event;
}
