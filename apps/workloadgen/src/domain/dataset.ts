import { z } from "zod";

/** One user prompt and the dataset's reply to it. */
export interface DatasetTurn {
  user: string;
  /** The dataset's assistant reply: sent as `expected_response` (the mock engine replays it). */
  assistant: string;
}

/** A conversation ready to replay: at least one complete user/assistant pair. */
export interface Conversation {
  id: string;
  /** Leading system message, if the dataset had one. */
  system?: string;
  turns: DatasetTurn[];
}

export interface ParsedDataset {
  conversations: Conversation[];
  /** Conversations dropped, by reason (e.g. "fewer than 2 messages"). */
  skipped: Record<string, number>;
  /** Conversations in the file, kept or not. */
  total: number;
}

const USER_ROLES = new Set(["human", "user"]);
const ASSISTANT_ROLES = new Set(["gpt", "assistant", "chatgpt", "bard", "bing"]);

/**
 * ShareGPT shape: `[{"id"?: ..., "conversations": [{"from": "human"|"gpt", "value": "..."}]}]`.
 * Unknown extra keys are allowed (real ShareGPT dumps carry several).
 */
export const shareGptSchema = z.array(
  z.object({
    id: z.union([z.string(), z.number()]).optional(),
    conversations: z.array(
      z.object({
        from: z.string(),
        value: z.string(),
      }),
    ),
  }),
);

/** "[3].conversations[1].value" for a zod issue path. */
function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) out += typeof part === "number" ? `[${part}]` : `${out ? "." : ""}${String(part)}`;
  return out || "(root)";
}

/**
 * Validates and normalises a parsed ShareGPT JSON value. Throws an Error whose message is one
 * line `<path>: <problem>` (the caller prefixes the file name) on a shape error.
 *
 * Skip rules, each counted in `skipped`: fewer than 2 messages (as `vllm bench serve`);
 * no complete user/assistant pair; fewer than `minTurns` pairs. Leading system messages become
 * `system`; a leading assistant message is dropped; the replay stops at the first break in
 * user/assistant alternation or at a trailing unanswered prompt.
 */
export function parseShareGpt(value: unknown, minTurns = 1): ParsedDataset {
  const result = shareGptSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues;
    const first = issues[0]!;
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : "";
    throw new Error(`${pathText(first.path)}: ${first.message}${more}`);
  }
  const skipped: Record<string, number> = {};
  const skip = (reason: string) => (skipped[reason] = (skipped[reason] ?? 0) + 1);
  const conversations: Conversation[] = [];
  result.data.forEach((entry, index) => {
    const messages = entry.conversations;
    if (messages.length < 2) return skip("fewer than 2 messages");
    let i = 0;
    const systemParts: string[] = [];
    while (i < messages.length && messages[i]!.from === "system") systemParts.push(messages[i++]!.value);
    if (i < messages.length && ASSISTANT_ROLES.has(messages[i]!.from)) i++;
    const turns: DatasetTurn[] = [];
    for (; i + 1 < messages.length; i += 2) {
      const u = messages[i]!;
      const a = messages[i + 1]!;
      if (!USER_ROLES.has(u.from) || !ASSISTANT_ROLES.has(a.from)) break;
      if (u.value.trim() === "" || a.value.trim() === "") break;
      turns.push({ user: u.value, assistant: a.value });
    }
    if (turns.length === 0) return skip("no complete user/assistant pair");
    if (turns.length < minTurns) return skip(`fewer than ${minTurns} turns`);
    conversations.push({
      id: entry.id === undefined ? `conv-${index}` : String(entry.id),
      ...(systemParts.length > 0 ? { system: systemParts.join("\n") } : {}),
      turns,
    });
  });
  return { conversations, skipped, total: result.data.length };
}
