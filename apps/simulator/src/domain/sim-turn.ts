import type { EngineListener, OutputPlan, RequestSummary } from "@symphony/mock-vllm/domain";
import type { TurnPlacement } from "@symphony/scheduler/domain";
import type { TurnHandlers, TurnRequest } from "@symphony/workloadgen/domain";

/** Where a simulated turn is: it ends exactly once, either finished or failed. */
export type TurnPhase = "to-scheduler" | "to-node" | "on-node" | "on-engine" | "returning" | "done";

/**
 * One turn in flight through the simulated cluster: the client's request and callbacks plus
 * what each hop learned about it. It is the engine's listener for its request; the node it
 * runs on decides what happens to the engine's callbacks.
 */
export class SimTurn implements EngineListener {
  phase: TurnPhase = "to-scheduler";
  /** The client cancelled: drop everything that still arrives for it. */
  cancelled = false;
  nodeId = "";
  /** KV tokens of earlier turns the node holds on the GPU at dispatch (loaded, not recomputed). */
  residentKvTokens = 0;
  /** The scheduler's placement of this turn (set when it first reaches the scheduler). */
  placement: TurnPlacement | undefined;
  /** The node sent Started toward the client: a failure now reaches the client, the turn cannot move. */
  startedSent = false;
  /** Prompt tokens as the node counts them (whole context). */
  nodePromptTokens = 0;
  plan: OutputPlan | undefined;
  /** Text of each output token as streamed (multi-byte characters land on their last token). */
  pieces: string[] | undefined;
  /** Called by the engine for each emitted token / at the end; set by the node running it. */
  onEngineToken: (turn: SimTurn, index: number) => void = () => {};
  onEngineFinish: (turn: SimTurn, summary: RequestSummary) => void = () => {};

  constructor(
    readonly request: TurnRequest,
    readonly handlers: TurnHandlers,
    /** Approximate wire size of the request (messages/prompt + fields), bytes. */
    readonly requestBytes: number,
  ) {}

  onToken(index: number): void {
    this.onEngineToken(this, index);
  }

  onFinish(summary: RequestSummary): void {
    this.onEngineFinish(this, summary);
  }
}

/** Approximate protobuf size of a turn request: its text plus a few bytes per field/message. */
export function requestWireBytes(req: TurnRequest): number {
  let n = 96 + req.requestId.length + req.sessionId.length + req.clientId.length;
  if (req.prompt !== undefined) n += req.prompt.length;
  if (req.messages) for (const m of req.messages) n += m.content.length + 8;
  if (req.expectedResponse !== undefined) n += req.expectedResponse.length;
  return n;
}
