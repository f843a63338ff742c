import { LRUCache } from "lru-cache";
import type { SessionContext } from "../engine/engine-adapter";

/** One session's context as of its last finished turn. */
export interface TrackedContext {
  readonly context: SessionContext;
  /** The engine's token ids for `context` (from its /tokenize), once known. */
  tokenIds?: Uint32Array;
}

/**
 * What each session has sent and received so far: its last turn's prompt plus the reply the
 * engine streamed. The session's next turn resends exactly this (clients send the whole
 * conversation), so it is what a warm-up request replays and what the engine's cache is looked
 * up with. Bounded: the least recently used sessions are forgotten beyond `maxSessions`.
 */
export class SessionContexts {
  private readonly bySession: LRUCache<string, TrackedContext>;

  constructor(maxSessions: number) {
    this.bySession = new LRUCache({ max: maxSessions });
  }

  get size(): number {
    return this.bySession.size;
  }

  /**
   * Records a finished turn: `prompt` is what it sent (messages or a completion prompt),
   * `replyText` what came back. Returns the session's context from now on.
   */
  recordTurn(sessionId: string, prompt: SessionContext, replyText: string): TrackedContext {
    const context: SessionContext =
      prompt.messages !== undefined
        ? { messages: [...prompt.messages, { role: "assistant", content: replyText }] }
        : { prompt: (prompt.prompt ?? "") + replyText };
    const tracked: TrackedContext = { context };
    this.bySession.set(sessionId, tracked);
    return tracked;
  }

  get(sessionId: string): TrackedContext | undefined {
    return this.bySession.get(sessionId);
  }

  /** Like `get`, without making the session most recently used (for status sweeps). */
  peek(sessionId: string): TrackedContext | undefined {
    return this.bySession.peek(sessionId);
  }

  delete(sessionId: string): void {
    this.bySession.delete(sessionId);
  }

  /** Every tracked session, most recently used first. */
  entries(): IterableIterator<[string, TrackedContext]> {
    return this.bySession.entries();
  }
}
