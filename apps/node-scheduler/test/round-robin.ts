import { InferenceRequest, Role, type ChatMessage, type NodeSchedulerServiceClient } from "@symphony/runtime";
import { advise, submit, terminal } from "./grpc-client";

export interface RoundRobinOptions {
  client: NodeSchedulerServiceClient;
  /** Session ids are `${prefix}-${i}`. */
  prefix: string;
  sessions: number;
  turns: number;
  /** Send Advise after each turn with the expected delay until the session's next turn. */
  hints: boolean;
  maxOutputTokens: number;
  /** Answer the engine replays (default: a fixed ~20-token sentence). */
  answer?: string;
  /** Extra words in every user message, to make contexts longer (default 0). */
  padWords?: number;
  /** Hints announce the return after this fraction of the expected gap (default 0.8: a little early). */
  hintFraction?: number;
}

/** One returning turn (turn_index > 0) as the node reported it. */
export interface ReturningTurn {
  promptTokens: number;
  cachedTokens: number;
  /** Node queue time + engine time to first token, ms. */
  ttftMs: number;
}

export interface RoundRobinResult {
  finished: number;
  errors: string[];
  /** Where each returning turn (turn_index > 0) found its session's KV. */
  returning: { gpu: number; cpu: number; evicted: number; new: number };
  /** Hints the node accepted. */
  hintsAccepted: number;
  wallMs: number;
  returningTurns: ReturningTurn[];
}

const ANSWER = "Sure, here is a short answer with a handful of words that the engine will replay for us.";

function userMessage(session: string, turn: number, padWords: number): string {
  const pad = Array.from({ length: padWords }, (_, i) => `word${(i * 7919 + turn * 31) % 1000}`).join(" ");
  return (
    (pad ? pad + " " : "") +
    `Session ${session}, question ${turn}: please explain, in a few sentences, how caching the attention keys ` +
    `and values of earlier turns lets a serving engine skip recomputing the shared prefix of a conversation.`
  );
}

/**
 * Multi-turn sessions visited round-robin, one turn at a time: a session comes back only after
 * every other session had a turn, which is the pattern where a small GPU budget forces offloads
 * and where a hint ("back in about N ms") lets the node prefetch in time. Each turn sends the
 * whole conversation so far (real prefix reuse on the engine).
 */
export async function runRoundRobin(o: RoundRobinOptions): Promise<RoundRobinResult> {
  const histories = Array.from({ length: o.sessions }, (): ChatMessage[] => [
    { role: Role.ROLE_SYSTEM, content: "You are a concise assistant." },
  ]);
  const result: RoundRobinResult = {
    finished: 0,
    errors: [],
    returning: { gpu: 0, cpu: 0, evicted: 0, new: 0 },
    hintsAccepted: 0,
    wallMs: 0,
    returningTurns: [],
  };
  const start = performance.now();
  let turnMsSum = 0;
  let turnCount = 0;
  for (let t = 0; t < o.turns; t++) {
    for (let i = 0; i < o.sessions; i++) {
      const sessionId = `${o.prefix}-${i}`;
      const history = histories[i]!;
      history.push({ role: Role.ROLE_USER, content: userMessage(sessionId, t, o.padWords ?? 0) });
      const t0 = performance.now();
      const events = await submit(
        o.client,
        InferenceRequest.fromPartial({
          requestId: `${sessionId}-t${t}`,
          sessionId,
          turnIndex: t,
          messages: history,
          maxOutputTokens: o.maxOutputTokens,
          expectedResponse: o.answer ?? ANSWER,
          stream: true,
          isLast: false,
        }),
      );
      turnMsSum += performance.now() - t0;
      turnCount++;
      const started = events[0]?.event;
      if (t > 0 && started?.$case === "started") {
        const tier = started.value.kvTier as keyof RoundRobinResult["returning"];
        result.returning[tier] = (result.returning[tier] ?? 0) + 1;
      }
      const end = terminal(events);
      if (end?.$case === "finished") {
        result.finished++;
        if (t > 0) {
          const timings = end.value.timings;
          result.returningTurns.push({
            promptTokens: end.value.usage?.promptTokens ?? 0,
            cachedTokens: end.value.usage?.cachedTokens ?? 0,
            ttftMs: ((timings?.queueTimeUs ?? 0) + (timings?.engineTtftUs ?? 0)) / 1000,
          });
        }
        const text = events.flatMap((e) => (e.event?.$case === "token" ? [e.event.value.text] : [])).join("");
        history.push({ role: Role.ROLE_ASSISTANT, content: text });
      } else {
        result.errors.push(
          end?.$case === "error" ? `${end.value.code}: ${end.value.message}` : "no terminal event",
        );
        history.pop();
      }
      if (o.hints && t + 1 < o.turns) {
        // The session is next served after every other session's turn. Announce it a little early
        // (80 %): turn times vary, and a prefetch that lands early is harmless, a late one is a miss.
        const expectedArrivalMs = Math.round(
          (o.hintFraction ?? 0.8) * (o.sessions - 1) * (turnMsSum / turnCount),
        );
        const res = await advise(o.client, { sessionId, expectedArrivalMs, nextTurnIndex: t + 1 });
        if (res.accepted) result.hintsAccepted++;
      }
    }
  }
  result.wallMs = performance.now() - start;
  return result;
}

/** Fraction of returning turns that found their session on the GPU. */
export function gpuHitRate(r: RoundRobinResult): number {
  const total = r.returning.gpu + r.returning.cpu + r.returning.evicted + r.returning.new;
  return total === 0 ? 0 : r.returning.gpu / total;
}
