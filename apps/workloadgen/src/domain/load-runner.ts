import { SlotMap, type TimerHandle, type Timers } from "@symphony/common";
import type { RequestRecord } from "@symphony/measure";
import { ChatHistory } from "./chat-session";
import type { PlannedTurn, SessionPlan, SessionSource } from "./plan";
import { ThinkTagSplitter } from "./agent-reasoning";
import type { PromptSynthesizer } from "./prompt-synth";
import type {
  FinishedInfo,
  StartedInfo,
  Target,
  TurnFailure,
  TokenTexts,
  TurnHandlers,
  TurnRequest,
} from "./target";
import type { ThinkTimeModel } from "./think-time";

export interface LoadRunnerOptions {
  /** "closed": keep `concurrency` sessions active, replacing finished ones at once. "open": start sessions at their `startUs`. */
  mode: "closed" | "open";
  concurrency: number;
  /** Stop starting turns after this many were sent (Infinity = no limit). */
  maxRequests: number;
  /** Stop starting turns this long after the start, µs of real (compressed) time (Infinity = none). */
  durationUs: number;
  /**
   * A hard end: turns still in flight `graceUs` after `durationUs` are cancelled and recorded as
   * `CANCELLED` (live runs: `--grace`). Default: wait for them (the simulator's virtual time).
   */
  graceUs?: number;
  /** User-time waits are divided by this. */
  timeScale: number;
  /** Send Advise hints for next turns. */
  hints: boolean;
  /** Prefix making request ids unique across runs. */
  runId: string;
  /**
   * Closed loop split across several runners (worker threads): this runner's slot k is the
   * run's client `slotOffset + k * slotStride`, so client ids stay unique run-wide. Default 0 / 1.
   */
  slotOffset?: number;
  slotStride?: number;
  /**
   * Closed loop: client k of the run's `totalClients` starts `k / totalClients * rampUpUs` after
   * the start (a linear ramp, like k6's ramping VUs), so a run does not open with every client's
   * first turn due in the same instant. Default 0: all at once.
   */
  rampUpUs?: number;
  /** Clients of the whole run (all runners), for the ramp. Default `concurrency`. */
  totalClients?: number;
}

/**
 * A cap on sends shared by several runners (worker threads each run one LoadRunner): the run
 * as a whole stops after `--max-requests`, wherever the sends happen.
 */
export interface SendQuota {
  /** Claims one send; false once the cap is reached (nothing is claimed then). */
  take(): boolean;
  /** True once every send of the cap has been claimed (by any runner). */
  readonly exhausted: boolean;
}

export interface LoadRunnerDeps {
  timers: Timers;
  target: Target;
  source: SessionSource;
  thinkTime: ThinkTimeModel;
  synth: PromptSynthesizer;
  /** Run-wide cap on sends, checked in addition to `options.maxRequests`. */
  sendQuota?: SendQuota;
}

interface ActiveSession {
  /** Its key in the runner's table of active sessions. */
  readonly key: number;
  plan: SessionPlan;
  slot: number;
  history: ChatHistory;
  next: number;
  lastResponse: string;
  /** Whole-context tokens after the last completed turn (for hints and estimates). */
  contextTokens: number;
  timer?: TimerHandle;
  inFlight?: { cancel(): void };
  /** The turn in flight (abort records it as failed at once: cancelled turns never hang the run). */
  current?: TurnInFlight;
  sentAny: boolean;
  /** When the previous turn's response ended (µs), for the waits agents record. */
  lastEndUs?: number;
  /** Completed (prompt, response) pairs: sub-agents fork the history from these. */
  pairs: { prompt: string; response: string }[];
  /** Sub-agents: the waiting parent and this child's index among its siblings. */
  parent?: { session: ActiveSession; index: number };
  /** Fan-out in progress: children still running, their answers, and when they were spawned. */
  waitingFor: number;
  childAnswers: string[];
  spawnedUs: number;
}

/**
 * The run loop: plays sessions from a SessionSource against a Target on injected Timers, so the
 * same loop runs live (RealTimers) and in virtual time. Every turn is sent at an absolute
 * scheduled time; the record keeps scheduled vs actual send time.
 *
 * Stop rules: after `maxRequests` sends or `durationUs`, no new turn starts; in-flight turns
 * finish (or, with `graceUs`, are cancelled once it has passed too); waiting sessions are closed.
 * `onDone` fires once nothing is in flight.
 */
export class LoadRunner {
  /** Active sessions by key, in the order they began. */
  private readonly active = new SlotMap<number, ActiveSession>();
  private sessionSeq = 0;
  private startUs = 0;
  private stopping = false;
  private finished = false;
  private requestSeq = 0;
  private openTimer?: TimerHandle;
  private durationTimer?: TimerHandle;
  private hardEndTimer?: TimerHandle;
  /** Why in-flight turns were cancelled (abort), for their records. */
  private abortReason?: string;
  /** Closed loop: each client's start timer (on the ramp), cancelled when the run finishes. */
  private readonly clientStarts: (TimerHandle | undefined)[] = [];
  private exhausted = false;
  /** What the turns in flight call back into (one object for all of them). */
  private readonly turnOwner: TurnOwner = {
    nowUs: () => this.deps.timers.nowUs(),
    ended: (t, fin, error) => this.turnEnded(t, fin, error),
  };

  sent = 0;
  completed = 0;
  failed = 0;
  inFlight = 0;
  hintsSent = 0;
  sessionsStarted = 0;
  sessionsClosed = 0;
  /** Sub-agent sessions started (not counted in sessionsStarted). */
  subAgentsStarted = 0;

  constructor(
    private readonly deps: LoadRunnerDeps,
    private readonly options: LoadRunnerOptions,
    private readonly onRecord: (record: RequestRecord) => void,
    private readonly onDone: () => void,
  ) {}

  /** µs since start (real time). */
  elapsedUs(): number {
    return this.deps.timers.nowUs() - this.startUs;
  }

  start(): void {
    this.startUs = this.deps.timers.nowUs();
    if (Number.isFinite(this.options.durationUs)) {
      this.durationTimer = this.deps.timers.at(this.startUs + this.options.durationUs, () => this.stop());
      const graceUs = this.options.graceUs;
      if (graceUs !== undefined && Number.isFinite(graceUs))
        this.hardEndTimer = this.deps.timers.at(this.startUs + this.options.durationUs + graceUs, () =>
          this.abort(
            `hard end: ${this.options.durationUs / 1e6} s duration + ${graceUs / 1e6} s grace passed with the turn in flight`,
          ),
        );
    }
    if (this.options.mode === "closed") {
      // Each client starts from a timer (due now, or at its place on the ramp), not in one loop
      // here: the timers run them in slices, so starting 10,000 clients does not hold the event
      // loop for one long stretch.
      const total = this.options.totalClients ?? this.options.concurrency;
      for (let slot = 0; slot < this.options.concurrency; slot++)
        this.clientStarts[slot] = this.deps.timers.at(
          this.startUs + Math.floor((this.clientOf(slot) / total) * (this.options.rampUpUs ?? 0)),
          () => {
            this.clientStarts[slot] = undefined;
            if (!this.stopping) this.startNextSession(slot);
            // The source may have run out with nothing active (or the run stopped meanwhile).
            this.checkDone();
          },
        );
    } else {
      this.scheduleNextOpenSession();
    }
    this.checkDone();
  }

  /** Stop starting turns; in-flight ones finish. Idempotent. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.openTimer) this.deps.timers.cancel(this.openTimer);
    for (const s of [...this.active.values()]) {
      if (s.inFlight) continue;
      this.endSession(s, false);
    }
    this.checkDone();
  }

  /**
   * Cancels in-flight turns too (second Ctrl-C, or the hard end): each is cancelled at the target
   * and recorded at once as `CANCELLED: <reason>`, whether or not the target ever answers.
   */
  abort(reason = "cancelled when the run was stopped"): void {
    this.stop();
    // A target may report the cancel synchronously, in its own words: the records say why.
    this.abortReason ??= reason;
    for (const s of [...this.active.values()]) {
      if (!s.inFlight) continue;
      s.inFlight.cancel();
      s.current?.end(undefined, `CANCELLED: ${this.abortReason}`);
    }
  }

  get activeSessions(): number {
    return this.active.size;
  }

  private scaled(us: number): number {
    return Math.round(us / this.options.timeScale);
  }

  private scheduleNextOpenSession(): void {
    if (this.stopping) return;
    const plan = this.deps.source.next();
    if (!plan) {
      this.exhausted = true;
      this.checkDone();
      return;
    }
    const at = this.startUs + this.scaled(plan.startUs ?? 0);
    this.armOpenTimer(plan, at);
  }

  private armOpenTimer(plan: SessionPlan, at: number): void {
    this.openTimer = this.deps.timers.at(at, () => {
      if (this.deps.timers.nowUs() < at) return this.armOpenTimer(plan, at);
      this.openTimer = undefined;
      if (this.stopping) return;
      this.beginSession(plan, -1, at);
      this.scheduleNextOpenSession();
    });
  }

  private startNextSession(slot: number): void {
    const plan = this.deps.source.next();
    if (!plan) {
      this.exhausted = true;
      return;
    }
    // In a closed loop a client is a slot: its next conversation follows its last.
    this.beginSession({ ...plan, clientId: `client-${this.clientOf(slot)}` }, slot, this.deps.timers.nowUs());
  }

  /** The run-wide client number of this runner's closed-loop slot. */
  private clientOf(slot: number): number {
    return (this.options.slotOffset ?? 0) + slot * (this.options.slotStride ?? 1);
  }

  private beginSession(
    plan: SessionPlan,
    slot: number,
    startUs: number,
    parent?: { session: ActiveSession; index: number },
  ): void {
    if (parent) this.subAgentsStarted++;
    else this.sessionsStarted++;
    const history = new ChatHistory(parent ? parent.session.plan.system : plan.system);
    // A sub-agent starts from its parent's conversation: the same bytes, so the same prefix.
    for (const p of parent?.session.pairs ?? []) history.recordTurn(p.prompt, p.response);
    const session: ActiveSession = {
      key: ++this.sessionSeq,
      plan,
      slot,
      history,
      next: 0,
      lastResponse: "",
      contextTokens: parent?.session.contextTokens ?? 0,
      sentAny: false,
      pairs: parent ? [...parent.session.pairs] : [],
      ...(parent ? { parent } : {}),
      waitingFor: 0,
      childAnswers: [],
      spawnedUs: 0,
    };
    this.active.set(session.key, session);
    const first = plan.turns[0];
    if (!first) return this.endSession(session, true);
    this.scheduleTurn(session, startUs + this.scaled(this.turnDelayUs(session, first)));
  }

  private turnDelayUs(session: ActiveSession, turn: PlannedTurn): number {
    if (turn.delayUs !== undefined) return turn.delayUs;
    const speeds = session.plan.speeds;
    if (!speeds) return 0;
    const promptChars = turn.text?.length ?? turn.promptTokens * 4;
    return this.deps.thinkTime.delayUs(speeds, session.lastResponse.length, promptChars);
  }

  private scheduleTurn(session: ActiveSession, atUs: number): void {
    session.timer = this.deps.timers.at(atUs, () => {
      // Wall-clock timers may fire up to ~1 ms early (millisecond loop clock): wait out the rest.
      if (this.deps.timers.nowUs() < atUs) return this.scheduleTurn(session, atUs);
      session.timer = undefined;
      this.sendTurn(session, atUs);
    });
  }

  private promptText(session: ActiveSession, turn: PlannedTurn): string {
    if (turn.text !== undefined) return turn.text;
    if (turn.kind === "join") {
      // The sub-agents' answers as received; synthesized only if none answered.
      const answers = session.childAnswers.filter((a) => a.length > 0).join("\n\n");
      if (answers.length > 0) return answers;
    }
    const key = `${session.plan.sessionId}:${turn.turnIndex}`;
    return turn.hashIds
      ? this.deps.synth.textWithPrefix(key, turn.promptTokens, turn.hashIds)
      : this.deps.synth.text(key, turn.promptTokens);
  }

  private sendTurn(session: ActiveSession, scheduledUs: number): void {
    const quota = this.deps.sendQuota;
    if (this.stopping || this.sent >= this.options.maxRequests || (quota && !quota.take())) {
      this.endSession(session, false);
      this.stop();
      return;
    }
    const { plan } = session;
    const turn = plan.turns[session.next]!;
    const isLast = session.next === plan.turns.length - 1;
    const previousEndUs = session.lastEndUs;
    const text = this.promptText(session, turn);
    const request: TurnRequest = {
      requestId: `${this.options.runId}-${++this.requestSeq}`,
      clientId: plan.clientId,
      sessionId: plan.sessionId,
      ...(plan.parentSessionId !== undefined ? { parentSessionId: plan.parentSessionId } : {}),
      turnIndex: turn.turnIndex,
      ...(plan.mode === "chat" ? { messages: session.history.requestMessages(text) } : { prompt: text }),
      promptTokens: session.contextTokens + turn.promptTokens,
      maxOutputTokens: turn.maxOutputTokens,
      stream: plan.stream,
      priority: plan.priority,
      isLast,
      ...(turn.expectedResponse !== undefined ? { expectedResponse: turn.expectedResponse } : {}),
      ignoreEos: plan.ignoreEos,
    };
    const sentUs = this.deps.timers.nowUs();
    this.sent++;
    this.inFlight++;
    session.sentAny = true;
    if (this.sent >= this.options.maxRequests || quota?.exhausted) this.stopSoon();

    // The answer text feeds the next turn's history (or a parent agent); a last turn's is never
    // read again, and building it costs a string piece per token (65 M in a simulated hour).
    const keepResponse = !isLast || session.parent !== undefined;
    const current = new TurnInFlight(
      this.turnOwner,
      session,
      turn,
      request,
      text,
      scheduledUs,
      sentUs,
      previousEndUs,
      keepResponse,
    );
    const handle = this.deps.target.submit(request, current);
    if (!current.done) {
      session.inFlight = handle;
      session.current = current;
    }
  }

  /** A sent turn ended (finished, failed, or cancelled by abort): its record, then the session's next step. */
  private turnEnded(t: TurnInFlight, fin: FinishedInfo | undefined, error: string | null): void {
    if (error !== null && this.abortReason !== undefined && error.startsWith("CANCELLED"))
      error = `CANCELLED: ${this.abortReason}`;
    const { session, request, turn, startedInfo: started } = t;
    const { sentUs, scheduledUs, previousEndUs } = t;
    const { plan } = session;
    const endUs = this.deps.timers.nowUs();
    this.inFlight--;
    session.inFlight = undefined;
    session.current = undefined;
    const completion = fin ? fin.completionTokens || t.tokenCount : t.tokenCount;
    const ttft = t.firstTokenUs === null ? null : (t.firstTokenUs - sentUs) / 1000;
    const e2el = (endUs - sentUs) / 1000;
    // Keys in REQUEST_RECORD_KEYS' order: requests.jsonl writes such records field by field.
    this.onRecord({
      request_id: request.requestId,
      client_id: request.clientId,
      session_id: request.sessionId,
      turn_index: request.turnIndex,
      profile: plan.profile,
      node_id: fin?.nodeId || started?.nodeId || "",
      kv_tier: fin?.kvTier ?? started?.kvTier ?? "",
      scheduled_ms: this.msSinceStart(scheduledUs),
      sent_ms: this.msSinceStart(sentUs),
      schedule_lag_ms: (sentUs - scheduledUs) / 1000,
      first_token_ms: t.firstTokenUs === null ? null : this.msSinceStart(t.firstTokenUs),
      end_ms: this.msSinceStart(endUs),
      ttft_ms: ttft,
      e2el_ms: e2el,
      tpot_ms: ttft !== null && completion > 1 && !error ? (e2el - ttft) / (completion - 1) : null,
      itl_ms: t.itl,
      prompt_tokens: fin?.promptTokens ?? 0,
      completion_tokens: completion,
      cached_tokens: fin?.cachedTokens ?? 0,
      token_count: t.tokenCount,
      usage_source: fin?.usageSource ?? (fin && fin.completionTokens > 0 ? "server" : "client"),
      queue_time_ms: started ? started.queueTimeUs / 1000 : null,
      finish_reason: fin?.finishReason ?? null,
      error,
      session_kind: plan.kind ?? "chat",
      parent_session_id: plan.parentSessionId ?? null,
      reasoning_tokens: t.reasoningTokens,
      ttfct_ms: t.firstContentUs === null ? null : (t.firstContentUs - sentUs) / 1000,
      tool_wait_ms:
        turn.kind === "tool" && previousEndUs !== undefined ? (scheduledUs - previousEndUs) / 1000 : null,
      subagent_wait_ms:
        turn.kind === "join" && turn.subAgents?.length ? (scheduledUs - session.spawnedUs) / 1000 : null,
      fan_out: turn.kind === "join" ? (turn.subAgents?.length ?? 0) : 0,
    });
    // The target may hold the turn's handlers a while after it ended: the gaps, now the
    // record's, are not kept alive with them.
    t.itl = [];
    if (error) {
      this.failed++;
      // A user whose turn failed gives up on the conversation.
      this.endSession(session, true);
      return;
    }
    this.completed++;
    const response = t.response;
    session.history.recordTurn(t.text, response);
    session.pairs.push({ prompt: t.text, response });
    session.lastResponse = response;
    session.lastEndUs = endUs;
    session.contextTokens = (fin?.promptTokens || request.promptTokens) + completion;
    session.next++;
    if (request.isLast || this.stopping) return this.endSession(session, true);
    this.afterTurn(session);
  }

  /** ms since the run started. */
  private msSinceStart(us: number): number {
    return (us - this.startUs) / 1000;
  }

  /** After a completed non-last turn: hint the next turn, then wait for it. */
  private afterTurn(session: ActiveSession): void {
    const turn = session.plan.turns[session.next]!;
    if (turn.subAgents?.length) return this.spawnSubAgents(session, turn.subAgents);
    const delayUs = this.scaled(this.turnDelayUs(session, turn));
    if (this.options.hints) {
      this.hintsSent++;
      const adviseUs = turn.adviseDelayUs === undefined ? delayUs : this.scaled(turn.adviseDelayUs);
      this.deps.target.advise({
        sessionId: session.plan.sessionId,
        clientId: session.plan.clientId,
        expectedArrivalMs: Math.round(adviseUs / 1000),
        expectedPromptTokens: session.contextTokens + turn.promptTokens,
        nextTurnIndex: turn.turnIndex,
      });
    }
    // From the moment the response ended, not from now: recording the turn takes time too.
    this.scheduleTurn(session, (session.lastEndUs ?? this.deps.timers.nowUs()) + delayUs);
  }

  /**
   * Fan-out: the children start now from this session's context; the parent's next turn waits
   * for all of them (no hint: how long they take is not known in advance, and their turns keep
   * the shared prefix warm on the node).
   */
  private spawnSubAgents(session: ActiveSession, children: readonly SessionPlan[]): void {
    const now = this.deps.timers.nowUs();
    session.waitingFor = children.length;
    session.childAnswers = children.map(() => "");
    session.spawnedUs = now;
    children.forEach((child, index) =>
      this.beginSession({ ...child, clientId: session.plan.clientId }, -1, now, { session, index }),
    );
  }

  /** A sub-agent ended (done, failed or stopped): hand its answer to the parent; the last one resumes it. */
  private subAgentEnded(child: ActiveSession): void {
    const { session: parent, index } = child.parent!;
    parent.childAnswers[index] = child.lastResponse;
    if (--parent.waitingFor > 0 || !this.active.has(parent.key)) return;
    if (this.stopping) return this.endSession(parent, false);
    const turn = parent.plan.turns[parent.next]!;
    this.scheduleTurn(parent, this.deps.timers.nowUs() + this.scaled(turn.delayUs ?? 0));
  }

  private stopSoon(): void {
    // The request just sent counts; stop() must not run before it is registered as in flight.
    this.stopping = true;
    if (this.openTimer) this.deps.timers.cancel(this.openTimer);
    for (const s of [...this.active.values()]) if (!s.inFlight && s.timer) this.endSession(s, false);
  }

  private endSession(session: ActiveSession, replace: boolean): void {
    if (!this.active.delete(session.key)) return;
    if (session.timer) this.deps.timers.cancel(session.timer);
    session.timer = undefined;
    if (session.sentAny) {
      this.sessionsClosed++;
      this.deps.target.closeSession(session.plan.sessionId, session.plan.clientId);
    }
    if (session.parent) this.subAgentEnded(session);
    else if (replace && !this.stopping && this.options.mode === "closed") this.startNextSession(session.slot);
    this.checkDone();
  }

  private checkDone(): void {
    if (this.finished || this.inFlight > 0 || this.active.size > 0) return;
    if (!this.stopping && !this.exhausted) return;
    this.finished = true;
    this.stopping = true;
    if (this.durationTimer) this.deps.timers.cancel(this.durationTimer);
    if (this.hardEndTimer) this.deps.timers.cancel(this.hardEndTimer);
    // Clients still waiting on the ramp never start (and their timers must not hold the process).
    for (const t of this.clientStarts) if (t) this.deps.timers.cancel(t);
    this.clientStarts.length = 0;
    this.onDone();
  }
}

/** What a turn in flight needs of its runner. */
interface TurnOwner {
  nowUs(): number;
  ended(turn: TurnInFlight, fin: FinishedInfo | undefined, error: string | null): void;
}

/**
 * One sent turn until it ends: what has arrived so far, and the target's callbacks as its
 * methods (one object per turn, not a closure per callback and a context they share).
 */
class TurnInFlight implements TurnHandlers {
  startedInfo: StartedInfo | undefined;
  firstTokenUs: number | null = null;
  lastTokenUs = 0;
  /** Inter-token gaps, ms. */
  itl: number[] = [];
  tokenCount = 0;
  response = "";
  firstContentUs: number | null = null;
  reasoningTokens = 0;
  readonly splitter = new ThinkTagSplitter();
  done = false;

  constructor(
    private readonly owner: TurnOwner,
    readonly session: ActiveSession,
    readonly turn: PlannedTurn,
    readonly request: TurnRequest,
    readonly text: string,
    readonly scheduledUs: number,
    readonly sentUs: number,
    /** When the session's previous turn ended (µs), for the waits agents record. */
    readonly previousEndUs: number | undefined,
    /** Whether the answer text is kept (see `sendTurn`). */
    private readonly keepResponse: boolean,
  ) {}

  /** Ends the turn once: its record, then the session's next step. */
  end(fin: FinishedInfo | undefined, error: string | null): void {
    if (this.done) return;
    this.done = true;
    this.owner.ended(this, fin, error);
  }

  started(info: StartedInfo): void {
    this.startedInfo = info;
  }

  token(chunk: string, count: number, reasoning?: boolean): void {
    this.onToken(chunk, count, reasoning, this.owner.nowUs());
  }

  /** As `count` calls of onToken, with the timings done in one pass. */
  tokensAt(texts: TokenTexts, from: number, arrivalsUs: ArrayLike<number>, count: number): void {
    if (count <= 0) return;
    let k = 0;
    if (this.firstTokenUs === null) {
      this.firstTokenUs = arrivalsUs[0]!;
      this.lastTokenUs = this.firstTokenUs;
      k = 1;
    }
    this.itl = appendGaps(this.itl, arrivalsUs, k, count, this.lastTokenUs);
    this.lastTokenUs = arrivalsUs[count - 1]!;
    this.tokenCount += count;
    for (let i = 0; i < count; i++) {
      // Once the output is past any think block, has had content and is not kept, the rest
      // of the texts change nothing (a simulated hour's last turns: 65 M tokens).
      if (!this.keepResponse && this.firstContentUs !== null && this.splitter.passthrough) break;
      this.onText(texts.at(from + i)!, 1, undefined, arrivalsUs[i]!);
    }
  }

  wholeText(texts: TokenTexts, tokenCount: number): void {
    const now = this.owner.nowUs();
    // An answer not kept counts only for its reasoning tokens and first content: once its head
    // shows it is all content, with some text that is not whitespace (or the first content
    // already came), the rest changes nothing (a batch answer: 128 texts never decoded). A kept
    // answer is read whole.
    let text = "";
    for (let i = 0, piece = texts.at(0); piece !== undefined; piece = texts.at(++i)) {
      text += piece;
      if (this.keepResponse || !this.splitter.allContentFrom(text)) continue;
      if (this.firstContentUs === null && text.trim().length === 0) continue;
      break;
    }
    this.onToken(text, tokenCount, undefined, now);
  }

  finished(info: FinishedInfo): void {
    this.end(info, null);
  }

  failed(e: TurnFailure): void {
    this.end(undefined, `${e.code}: ${e.message}`);
  }

  /** One token chunk that reached the client at `now`. */
  private onToken(chunk: string, count: number, reasoning: boolean | undefined, now: number): void {
    if (this.firstTokenUs === null) this.firstTokenUs = now;
    else this.itl.push((now - this.lastTokenUs) / 1000);
    this.lastTokenUs = now;
    this.tokenCount += count;
    this.onText(chunk, count, reasoning, now);
  }

  /** What a chunk's text changes: reasoning count, first content time, the kept response. */
  private onText(chunk: string, count: number, reasoning: boolean | undefined, now: number): void {
    // Reasoning is not part of the answer: it is counted, never resent in the history.
    if (reasoning) {
      this.reasoningTokens += count;
      return;
    }
    // Hot path (once the splitter knows the rest is content): no split object, no scanning.
    let content = chunk;
    if (!this.splitter.passthrough) {
      const split = this.splitter.push(chunk, count);
      this.reasoningTokens += split.reasoningTokens;
      content = split.content;
    }
    if (this.firstContentUs === null && content.trim().length > 0) this.firstContentUs = now;
    if (this.keepResponse) this.response += content;
  }
}

/** Reused while a batch's gaps are computed (`appendGaps`; single-threaded, never re-entered). */
const gapScratch: number[] = [];

/**
 * `gaps` with the inter-token gaps (ms) of tokens `from..count-1` of `arrivalsUs` appended,
 * token `from`'s measured from `previousUs`. An empty `gaps` is replaced by an array of the
 * exact size (a simulated turn's tokens come in one batch): no array grown push by push.
 */
function appendGaps(
  gaps: number[],
  arrivalsUs: ArrayLike<number>,
  from: number,
  count: number,
  previousUs: number,
): number[] {
  if (gaps.length > 0) {
    for (let i = from; i < count; i++) {
      gaps.push((arrivalsUs[i]! - previousUs) / 1000);
      previousUs = arrivalsUs[i]!;
    }
    return gaps;
  }
  let n = 0;
  for (let i = from; i < count; i++) {
    gapScratch[n++] = (arrivalsUs[i]! - previousUs) / 1000;
    previousUs = arrivalsUs[i]!;
  }
  return n === 0 ? gaps : gapScratch.slice(0, n);
}
