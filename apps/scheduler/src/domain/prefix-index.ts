import type { ChatRole } from "@symphony/common";
import { LRUCache } from "lru-cache";

/**
 * Predicts prefix-cache hits per node without tokenizing (tokenizing every prompt in the
 * scheduler would cost milliseconds on long conversations): the prompt text is cut into
 * fixed-size character blocks and each full block gets a hash chained from the one before, so
 * equal hashes mean equal prefixes (like vLLM's block hashes, on characters instead of tokens).
 * The index remembers which block hashes each node has been sent, and a request's predicted hit
 * on a node is the share of its text covered by the leading blocks that node has seen.
 */

/**
 * cyrb53 of `text[start, end)`: a fast, well-mixed 53-bit string hash; `seed` chains it to the
 * previous block. Hashes in place (no substring per block).
 */
function cyrb53(text: string, start: number, end: number, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = start; i < end; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A prompt cut into blocks: one chained hash per full block, and the prompt's length. */
export interface PromptBlocks {
  readonly hashes: readonly number[];
  /** Length of the whole prompt text in characters (full blocks plus the partial tail). */
  readonly totalChars: number;
}

/**
 * Chained hashes of `text`'s full `blockChars`-sized blocks; the partial tail block is not
 * hashed (an engine only caches full blocks). `blockChars` > 0.
 *
 * `known`: the hashes of an earlier prompt of the same session (its conversation so far). A
 * session's next prompt is usually that conversation plus new messages, so when the last known
 * block still hashes the same here, the known hashes are reused and only the new text is
 * hashed: cost proportional to the new text, not the whole conversation. Only that one block is
 * re-checked, so an edit further back in the history goes unnoticed; the result is a routing
 * prediction, and the engine's own cache decides the real hit.
 */
export function prefixBlocks(text: string, blockChars: number, known: readonly number[] = []): PromptBlocks {
  let hashes: number[] = [];
  let prev = 0;
  let start = 0;
  const k = known.length;
  if (k > 0 && k * blockChars <= text.length) {
    const seed = k >= 2 ? known[k - 2]! % 0x7fffffff : 0;
    if (cyrb53(text, (k - 1) * blockChars, k * blockChars, seed) === known[k - 1]) {
      hashes = known.slice();
      prev = known[k - 1]!;
      start = k * blockChars;
    }
  }
  for (; start + blockChars <= text.length; start += blockChars) {
    prev = cyrb53(text, start, start + blockChars, prev % 0x7fffffff);
    hashes.push(prev);
  }
  return { hashes, totalChars: text.length };
}

/** A chat message as the scheduler sees it. */
export interface ChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** One digit per role in the conversation text (the block layout, and so predicted hits, depend on its length). */
const ROLE_DIGIT: Readonly<Record<ChatRole, string>> = { system: "1", user: "2", assistant: "3", tool: "4" };

/** Chat history as one string, in a fixed layout so equal histories give equal text. */
export function conversationText(messages: readonly ChatMessage[]): string {
  let out = "";
  for (const m of messages) out += `\u0002${ROLE_DIGIT[m.role]}\u0003${m.content}`;
  return out;
}

/** Per node, the block hashes it has been sent, each set bounded with least-recently-used eviction. */
export class PrefixIndex {
  // lru-cache, not a Map trimmed from its front: once full, a V8 Map whose oldest keys are
  // deleted again and again makes `keys().next()` scan the deleted slots (~100x slower).
  private readonly byNode = new Map<string, LRUCache<number, true>>();

  /** @param capacityBlocksPerNode most block hashes remembered per node (> 0). */
  constructor(
    readonly blockChars: number,
    private readonly capacityBlocksPerNode: number,
  ) {}

  /** Records that `nodeId` has been sent `blocks` (its cache now likely holds them). */
  record(nodeId: string, blocks: PromptBlocks): void {
    // Nothing to remember (policies without prefix hits send no blocks): no per-node table,
    // whose arrays are sized for the full capacity up front.
    if (blocks.hashes.length === 0) return;
    let seen = this.byNode.get(nodeId);
    if (!seen) {
      seen = new LRUCache({ max: this.capacityBlocksPerNode });
      this.byNode.set(nodeId, seen);
    }
    for (const h of blocks.hashes) seen.set(h, true);
  }

  /** Predicted cached fraction of the prompt, in [0, 1], on each of `nodeIds`. */
  predictHits(blocks: PromptBlocks, nodeIds: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const nodeId of nodeIds) {
      const seen = this.byNode.get(nodeId);
      let matched = 0;
      if (seen) while (matched < blocks.hashes.length && seen.has(blocks.hashes[matched]!)) matched++;
      out.set(nodeId, blocks.totalChars === 0 ? 0 : (matched * this.blockChars) / blocks.totalChars);
    }
    return out;
  }

  /** The node released these blocks (e.g. a session moved away). */
  forget(nodeId: string, hashes: readonly number[]): void {
    const seen = this.byNode.get(nodeId);
    if (seen) for (const h of hashes) seen.delete(h);
  }

  /** The node lost its cache (it died or restarted). */
  forgetNode(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** Number of block hashes remembered for `nodeId`. */
  size(nodeId: string): number {
    return this.byNode.get(nodeId)?.size ?? 0;
  }
}
