import * as grpc from "@grpc/grpc-js";
import {
  bearerInterceptor,
  grpcClientOptions,
  SchedulerServiceClient,
  type InferenceEvent,
  type InferenceRequest,
} from "@symphony/runtime";

/** A client of the scheduler on 127.0.0.1:`port`, optionally with a bearer token and TLS credentials. */
export function schedulerClient(
  port: number,
  opts: { authToken?: string; credentials?: grpc.ChannelCredentials; host?: string } = {},
): SchedulerServiceClient {
  return new SchedulerServiceClient(
    `${opts.host ?? "127.0.0.1"}:${port}`,
    opts.credentials ?? grpc.credentials.createInsecure(),
    opts.authToken === undefined
      ? grpcClientOptions
      : { ...grpcClientOptions, interceptors: [bearerInterceptor(opts.authToken)] },
  );
}

export function turn(
  sessionId: string,
  turnIndex: number,
  extra: Partial<InferenceRequest> = {},
): InferenceRequest {
  return {
    requestId: `${sessionId}-${turnIndex}`,
    clientId: "test",
    sessionId,
    turnIndex,
    messages: [{ role: 2, content: `hello from ${sessionId} turn ${turnIndex}` }],
    prompt: "",
    promptTokens: 0,
    maxOutputTokens: 8,
    stream: true,
    priority: 0,
    isLast: false,
    ignoreEos: false,
    deadlineMs: 0,
    model: "",
    parentSessionId: "",
    ...extra,
  };
}

export interface TurnResult {
  events: InferenceEvent[];
  /** Node id from the Started/Finished event, if any. */
  nodeId: string | undefined;
  /** The TurnError event, if any. */
  error: { code: string; message: string; retryable: boolean } | undefined;
  /** A non-OK gRPC status, if the call failed. */
  status: grpc.ServiceError | undefined;
  text: string;
}

/** Runs one turn to completion (bounded by `timeoutMs` so a hang fails the test instead of stalling it). */
export function runTurn(
  client: SchedulerServiceClient,
  req: InferenceRequest,
  opts: {
    timeoutMs?: number;
    onEvent?: (ev: InferenceEvent, call: grpc.ClientReadableStream<InferenceEvent>) => void;
  } = {},
): Promise<TurnResult> {
  return new Promise((resolve) => {
    const result: TurnResult = {
      events: [],
      nodeId: undefined,
      error: undefined,
      status: undefined,
      text: "",
    };
    const call = client.submit(req, { deadline: new Date(Date.now() + (opts.timeoutMs ?? 10_000)) });
    call.on("data", (ev: InferenceEvent) => {
      result.events.push(ev);
      const e = ev.event;
      if (e?.$case === "started") result.nodeId = e.value.nodeId;
      if (e?.$case === "token") result.text += e.value.text;
      if (e?.$case === "error") result.error = e.value;
      opts.onEvent?.(ev, call);
    });
    call.on("error", (err: grpc.ServiceError) => {
      result.status = err;
      resolve(result);
    });
    call.on("end", () => resolve(result));
  });
}
