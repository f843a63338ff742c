const OPEN = "<think>";
const CLOSE = "</think>";

/** How one streamed chunk splits between reasoning and content. */
export interface ChunkSplit {
  /** Tokens of the chunk counted as reasoning (the chunk's count split in proportion to characters). */
  reasoningTokens: number;
  contentTokens: number;
  /** The chunk's content text (reasoning text and the think tags removed). */
  content: string;
}

/**
 * Separates a reasoning model's thinking from its answer in a stream, for servers that do not
 * split it themselves (vLLM without `--reasoning-parser`, or the mock replaying a
 * `<think>...</think>` reply): output that starts (after whitespace) with `<think>` is reasoning
 * up to and including `</think>`; everything else is content. Tags may arrive split across
 * chunks: while the text so far could still become `<think>`, it is held as reasoning.
 *
 * Invariant: reasoningTokens + contentTokens of a chunk = the chunk's token count.
 */
export class ThinkTagSplitter {
  private raw = "";
  /** Where reasoning ends in `raw` (after `</think>`); Infinity while it has not closed; 0 = no reasoning. */
  private reasoningEnd = Infinity;
  private decided = false;
  /** Content characters of `raw` already returned. */
  private contentEmitted = 0;
  private passthroughReached = false;

  /**
   * True once every later chunk is pure content, returned as is: the output was decided not to
   * start with `<think>`, or its think block closed and everything after it was returned. From
   * then on `push` neither stores nor scans text (O(1) per chunk), and a caller may skip it and
   * treat each chunk as `{ reasoningTokens: 0, contentTokens: count, content: chunk }`.
   */
  get passthrough(): boolean {
    return this.passthroughReached;
  }

  /**
   * Whether a chunk that starts with `head`, pushed now, is content all through whatever follows
   * `head`: the splitter is past any think block, or has seen nothing yet and `head` already
   * shows the output does not start with `<think>`. Pushing `head` alone then leaves the splitter
   * as pushing the whole chunk would (no reasoning tokens either way).
   */
  allContentFrom(head: string): boolean {
    if (this.passthroughReached) return true;
    if (this.raw !== "") return false;
    const lead = head.trimStart();
    return lead.length >= OPEN.length ? !lead.startsWith(OPEN) : !OPEN.startsWith(lead);
  }

  push(text: string, tokenCount: number): ChunkSplit {
    if (this.passthroughReached) return { reasoningTokens: 0, contentTokens: tokenCount, content: text };
    const from = this.raw.length;
    this.raw += text;
    this.classify();
    const to = this.raw.length;
    const inReasoning = Math.max(0, Math.min(to, this.reasoningEnd) - from);
    // Text held back as a possible "<think>" that turned out not to be one is returned now.
    const content = this.raw.slice(Math.max(this.contentEmitted, Math.min(to, this.reasoningEnd)), to);
    if (content.length > 0) this.contentEmitted = to;
    const share = text.length === 0 ? 0 : inReasoning / text.length;
    const reasoningTokens = Math.round(tokenCount * share);
    // Reasoning ended within the text so far, and everything after it has just been returned:
    // each later chunk is pure content, returned verbatim.
    if (this.reasoningEnd <= to) {
      this.passthroughReached = true;
      this.raw = ""; // no longer read: free the text
    }
    return { reasoningTokens, contentTokens: tokenCount - reasoningTokens, content };
  }

  private classify(): void {
    if (!this.decided) {
      const lead = this.raw.trimStart();
      if (lead.length >= OPEN.length) {
        this.decided = true;
        if (!lead.startsWith(OPEN)) this.reasoningEnd = 0;
      } else if (!OPEN.startsWith(lead)) {
        this.decided = true;
        this.reasoningEnd = 0;
      }
    }
    if (this.decided && this.reasoningEnd === Infinity) {
      const close = this.raw.indexOf(CLOSE);
      if (close >= 0) this.reasoningEnd = close + CLOSE.length;
    }
  }
}
