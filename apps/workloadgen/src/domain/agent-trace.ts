import type { Tokenizer } from "@symphony/common";
import { z } from "zod";
import type { PlannedTurn, SessionPlan, SessionSource } from "./plan";
import { PromptSynthesizer } from "./prompt-synth";
import { TraceFormatError } from "./trace";

export const AGENT_TRACE_ROLES = ["system", "user", "assistant", "tool"] as const;

/**
 * One line of an agent trace (JSONL, one message per line, sessions in any order, each session's
 * messages in order). See the README's "Agent trace format".
 */
const agentTraceLineSchema = z.strictObject({
  session_id: z.string().min(1),
  role: z.enum(AGENT_TRACE_ROLES),
  /** The message text; or give `tokens` and the text is synthesized deterministically. */
  content: z.string().optional(),
  tokens: z.number().int().min(0).optional(),
  /** tool: how long the tool call took, from the end of the assistant message before it. */
  latency_ms: z.number().min(0).optional(),
  /** user: how long the human took before sending it (default 0). */
  delay_ms: z.number().min(0).optional(),
  /** assistant: thinking tokens streamed before the content (a reasoning model). */
  reasoning_tokens: z.number().int().min(0).optional(),
  /** tool: this result is the answers of these sub-agent sessions (run in parallel, all awaited). */
  subagents: z.array(z.string().min(1)).min(1).optional(),
  /** A sub-agent session names its parent (on any of its lines; the first one counts). */
  parent_session_id: z.string().min(1).optional(),
  /** Top-level sessions: start time, ms from the trace start (default 0). */
  start_ms: z.number().min(0).optional(),
});
type AgentTraceLine = z.output<typeof agentTraceLineSchema> & { line: number };

/** A parsed agent trace: top-level sessions (sub-agents nested inside) in start order. */
export interface AgentTrace {
  sessions: SessionPlan[];
  /** Messages (lines) read. */
  messages: number;
  subAgentSessions: number;
}

function lineError(line: number, key: string, problem: string): never {
  throw new TraceFormatError(`line ${line}: ${key}: ${problem}`);
}

/**
 * Parses an agent trace. Throws TraceFormatError(`line N: key: problem`) on the first problem; the
 * caller prefixes the file name. Same text + seed -> same plans. Texts are counted, and `tokens`
 * synthesized, with `tokenizer` (the served model's).
 */
export function parseAgentTrace(text: string, seed: number, tokenizer: Tokenizer): AgentTrace {
  const bySession = new Map<string, AgentTraceLine[]>();
  let messages = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new TraceFormatError(`line ${line}: invalid JSON: ${(err as Error).message}`);
    }
    const r = agentTraceLineSchema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const key = issue.path.join(".") || "(line)";
      const got =
        issue.path.length === 1 && value && typeof value === "object"
          ? ` (got ${JSON.stringify((value as Record<string, unknown>)[String(issue.path[0])])})`
          : "";
      const message =
        issue.code === "invalid_value" && issue.path[0] === "role"
          ? `expected one of ${AGENT_TRACE_ROLES.join(", ")}`
          : issue.message;
      throw new TraceFormatError(`line ${line}: ${key}: ${message}${got}`);
    }
    const m = { ...r.data, line };
    checkLine(m);
    messages++;
    const list = bySession.get(m.session_id) ?? [];
    list.push(m);
    bySession.set(m.session_id, list);
  });
  if (bySession.size === 0) throw new TraceFormatError("line 1: the trace has no messages");

  const synth = new PromptSynthesizer(seed, tokenizer);
  const parentOf = new Map<string, { parent: string; line: number }>();
  for (const [id, lines] of bySession) {
    const withParent = lines.find((l) => l.parent_session_id !== undefined);
    if (withParent) parentOf.set(id, { parent: withParent.parent_session_id!, line: withParent.line });
  }
  const claimed = new Map<string, number>();
  const build = (id: string, depth: number): SessionPlan =>
    buildSession(id, bySession.get(id)!, depth, { bySession, parentOf, claimed, synth, tokenizer, build });
  const sessions = [...bySession.keys()].filter((id) => !parentOf.has(id)).map((id) => build(id, 0));
  for (const [id, { parent, line }] of parentOf) {
    if (!bySession.has(parent)) lineError(line, "parent_session_id", `no session "${parent}" in the trace`);
    if (!claimed.has(id))
      lineError(
        line,
        "parent_session_id",
        `session "${parent}" has no tool line listing "${id}" in subagents`,
      );
  }
  sessions.sort((a, b) => (a.startUs ?? 0) - (b.startUs ?? 0));
  return { sessions, messages, subAgentSessions: parentOf.size };
}

/** Per-line rules that zod cannot say in the schema. */
function checkLine(m: AgentTraceLine): void {
  const has = (k: keyof AgentTraceLine) => m[k] !== undefined;
  const only = (k: keyof AgentTraceLine, roles: string) => {
    if (has(k) && !roles.split("|").includes(m.role)) lineError(m.line, k, `only allowed on role ${roles}`);
  };
  only("latency_ms", "tool");
  only("subagents", "tool");
  only("reasoning_tokens", "assistant");
  only("delay_ms", "user");
  if (m.subagents) {
    if (has("content") || has("tokens") || has("latency_ms"))
      lineError(m.line, "subagents", "a sub-agent join takes no content, tokens or latency_ms");
  } else if (has("content") === has("tokens")) {
    lineError(m.line, "content", "give exactly one of content or tokens");
  }
}

interface BuildContext {
  bySession: Map<string, AgentTraceLine[]>;
  parentOf: Map<string, { parent: string; line: number }>;
  claimed: Map<string, number>;
  synth: PromptSynthesizer;
  tokenizer: Tokenizer;
  build(id: string, depth: number): SessionPlan;
}

/** Turns one session's messages into a plan: each user/tool message plus the assistant reply after it is a turn. */
function buildSession(id: string, lines: AgentTraceLine[], depth: number, ctx: BuildContext): SessionPlan {
  if (depth > 8)
    lineError(lines[0]!.line, "subagents", `sub-agents nested deeper than 8 (a cycle through "${id}"?)`);
  let i = 0;
  let system: string | undefined;
  if (lines[0]!.role === "system") {
    const s = lines[0]!;
    system = s.content ?? ctx.synth.text(`trace-system:${id}`, s.tokens!);
    i = 1;
  }
  const turns: PlannedTurn[] = [];
  for (; i < lines.length; i += 2) {
    const ask = lines[i]!;
    const reply = lines[i + 1];
    if (ask.role !== "user" && ask.role !== "tool")
      lineError(
        ask.line,
        "role",
        `expected user or tool in session "${id}" (a turn starts here), got ${ask.role}`,
      );
    if (turns.length === 0 && ask.role !== "user")
      lineError(
        ask.line,
        "role",
        `session "${id}" must start with a user message (after an optional system)`,
      );
    if (!reply)
      lineError(ask.line, "role", `session "${id}" ends with a ${ask.role} message: no assistant reply`);
    if (reply.role !== "assistant")
      lineError(
        reply.line,
        "role",
        `expected assistant after the ${ask.role} message on line ${ask.line}, got ${reply.role}`,
      );
    const turnIndex = turns.length;
    const replyText =
      (reply.reasoning_tokens
        ? `<think>${ctx.synth.text(`trace-think:${id}:${turnIndex}`, reply.reasoning_tokens)}</think>`
        : "") + (reply.content ?? "");
    // Text given (or reasoning to replay): the mock replays it exactly. Tokens only: it generates that many.
    const expectedResponse =
      reply.content === undefined && !reply.reasoning_tokens
        ? undefined
        : replyText +
          (reply.content === undefined
            ? ctx.synth.text(`trace-reply:${id}:${turnIndex}`, reply.tokens!)
            : "");
    const replyTurn =
      expectedResponse === undefined
        ? { maxOutputTokens: Math.max(1, reply.tokens!) }
        : { expectedResponse, maxOutputTokens: Math.max(1, ctx.tokenizer.countTokens(expectedResponse)) };
    if (ask.subagents) {
      const children = ask.subagents.map((childId) => {
        const parent = ctx.parentOf.get(childId);
        if (!ctx.bySession.has(childId))
          lineError(ask.line, "subagents", `no session "${childId}" in the trace`);
        if (parent?.parent !== id)
          lineError(ask.line, "subagents", `session "${childId}" must have parent_session_id "${id}"`);
        if (ctx.claimed.has(childId))
          lineError(
            ask.line,
            "subagents",
            `session "${childId}" is already joined on line ${ctx.claimed.get(childId)}`,
          );
        ctx.claimed.set(childId, ask.line);
        return ctx.build(childId, depth + 1);
      });
      const joined = children.reduce((s, c) => s + c.turns[c.turns.length - 1]!.maxOutputTokens, 0);
      turns.push({
        turnIndex,
        promptTokens: joined,
        delayUs: 0,
        kind: "join",
        subAgents: children,
        ...replyTurn,
      });
      continue;
    }
    const prompt =
      ask.content !== undefined
        ? { text: ask.content, promptTokens: ctx.tokenizer.countTokens(ask.content) }
        : { promptTokens: ask.tokens! };
    const delayMs = ask.role === "tool" ? (ask.latency_ms ?? 0) : (ask.delay_ms ?? 0);
    turns.push({
      turnIndex,
      ...prompt,
      delayUs: Math.round(delayMs * 1000),
      kind: ask.role === "tool" ? "tool" : "user",
      ...replyTurn,
    });
  }
  const parent = ctx.parentOf.get(id);
  const start = lines.find((l) => l.start_ms !== undefined);
  if (start && parent) lineError(start.line, "start_ms", "a sub-agent starts when its parent spawns it");
  return {
    sessionId: id,
    clientId: `trace-agent-${id.split("/")[0]}`,
    profile: "agent-trace",
    ...(parent ? { parentSessionId: parent.parent } : { startUs: Math.round((start?.start_ms ?? 0) * 1000) }),
    priority: "normal",
    stream: true,
    ignoreEos: true,
    mode: "chat",
    ...(system !== undefined ? { system } : {}),
    kind: "agent",
    turns,
  };
}

/** A parsed agent trace as a SessionSource (open loop: sessions start at their `start_ms`). */
export function agentTraceSource(trace: AgentTrace): SessionSource {
  let i = 0;
  return { next: () => trace.sessions[i++] };
}
