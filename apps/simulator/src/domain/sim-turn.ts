import type { EngineListener, OutputPlan, RequestSummary, TokenCache } from "@symphony/mock-vllm/domain";
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
  /** What the engine will output (set when the request reaches the engine). */
  plan: OutputPlan | undefined;
  /** Decodes the plan's tokens (set with `plan`). */
  tokenText: TokenCache | undefined;
  private streamed: StreamTexts | undefined;
  /**
   * When each streamed token not yet handed to the client reaches it (virtual µs, in token
   * order, the first `arrivals` entries); they are handed over in one run when something else
   * of this turn reaches the client. Sized for the plan's tokens when the request reaches the
   * engine (a typed array: its numbers live off the garbage-collected heap while the turn runs).
   */
  tokenArrivalsUs: Float64Array = NO_ARRIVALS;
  arrivals = 0;
  /** Tokens handed to the client so far. */
  tokensDelivered = 0;
  /** Called by the engine for each emitted token / at the end; set by the node running it. */
  onEngineToken: (turn: SimTurn, index: number) => void = () => {};
  onEngineTokens: (
    turn: SimTurn,
    first: number,
    count: number,
    timesUs: readonly number[],
    from: number,
  ) => void = () => {};
  onEngineFinish: (turn: SimTurn, summary: RequestSummary) => void = () => {};

  constructor(
    readonly request: TurnRequest,
    readonly handlers: TurnHandlers,
    /** Approximate wire size of the request (messages/prompt + fields), bytes. */
    readonly requestBytes: number,
  ) {}

  /**
   * Text of each output token as streamed (multi-byte characters land on their last token);
   * undefined before the request reaches the engine. Decoded as read, which is when the tokens
   * reach the client, and only as far as read.
   */
  get pieces(): StreamTexts | undefined {
    if (this.plan === undefined) return undefined;
    return (this.streamed ??= new StreamTexts(this.plan.tokenIds, this.tokenText!));
  }

  /** Notes the arrival time of the next streamed token. */
  noteArrival(atUs: number): void {
    // A typed array drops writes past its end without a word: more tokens than planned is a bug.
    if (this.arrivals >= this.tokenArrivalsUs.length)
      throw new Error(
        `turn ${this.request.requestId}: token ${this.arrivals + 1} beyond the ${this.tokenArrivalsUs.length} planned`,
      );
    this.tokenArrivalsUs[this.arrivals++] = atUs;
  }

  onToken(index: number): void {
    this.onEngineToken(this, index);
  }

  onTokens(firstIndex: number, count: number, timesUs: readonly number[], timesFrom: number): void {
    this.onEngineTokens(this, firstIndex, count, timesUs, timesFrom);
  }

  /**
   * Hands the client the streamed tokens that reached it before `beforeUs` (all by default), each
   * with its own arrival time, and forgets the rest (the client cancelled).
   */
  deliverTokens(beforeUs = Number.POSITIVE_INFINITY): void {
    const times = this.tokenArrivalsUs;
    let n = this.arrivals;
    if (beforeUs !== Number.POSITIVE_INFINITY) while (n > 0 && times[n - 1]! >= beforeUs) n--;
    if (n > 0) {
      const h = this.handlers;
      const pieces = this.pieces!;
      const from = this.tokensDelivered;
      if (h.tokensAt) h.tokensAt(pieces, from, times, n);
      else for (let i = 0; i < n; i++) h.token(pieces.at(from + i)!, 1);
      this.tokensDelivered += n;
    }
    this.arrivals = 0;
  }

  onFinish(summary: RequestSummary): void {
    this.onEngineFinish(this, summary);
  }
}

const NO_ARRIVALS = new Float64Array(0);

/**
 * TokenCache.streamPieces of `ids`, decoded as far as read: while every token so far decodes to
 * clean text on its own, a token's piece is its own text (a cached string per id); at the first
 * that does not (part of a character cut over several tokens), all pieces are decoded at once.
 * A reader that stops early (the load runner, once texts change nothing) decodes little.
 */
export class StreamTexts {
  private all: string[] | undefined;
  /** Tokens 0 .. clean - 1 decode cleanly on their own. */
  private clean = 0;

  constructor(
    private readonly ids: Int32Array,
    private readonly tokens: TokenCache,
  ) {}

  at(i: number): string | undefined {
    if (i < 0 || i >= this.ids.length) return undefined;
    if (this.all === undefined) {
      while (this.clean <= i) {
        if (this.tokens.tokenText(this.ids[this.clean]!).includes("\uFFFD")) {
          this.all = this.tokens.streamPieces(this.ids);
          break;
        }
        this.clean++;
      }
      if (this.all === undefined) return this.tokens.tokenText(this.ids[i]!);
    }
    return this.all[i];
  }

  /** The whole streamed text. */
  text(): string {
    this.all ??= this.tokens.streamPieces(this.ids);
    return this.all.join("");
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
