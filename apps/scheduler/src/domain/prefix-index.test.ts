import { describe, expect, it } from "vitest";
import { conversationText, PrefixIndex, prefixBlocks } from "./prefix-index";

describe("prefixBlocks", () => {
  it("text of 2.5 blocks -> 2 hashes, full length recorded", () => {
    const b = prefixBlocks("x".repeat(250), 100);
    expect(b.hashes).toHaveLength(2);
    expect(b.totalChars).toBe(250);
  });

  it("same block content at different positions -> different (chained) hashes", () => {
    const b = prefixBlocks("ab".repeat(100), 100);
    expect(b.hashes[0]).not.toBe(b.hashes[1]);
  });

  it("texts sharing a prefix -> share exactly the leading hashes of that prefix", () => {
    const common = "c".repeat(300);
    const a = prefixBlocks(common + "A".repeat(200), 100);
    const b = prefixBlocks(common + "B".repeat(200), 100);
    expect(a.hashes.slice(0, 3)).toEqual(b.hashes.slice(0, 3));
    expect(a.hashes[3]).not.toBe(b.hashes[3]);
  });
});

describe("prefixBlocks with the session's known hashes", () => {
  const words = (n: number, seed: string) =>
    Array.from({ length: n }, (_, i) => `${seed}${(i * 7919) % 1000} `).join("");
  const turn1 = words(100, "a");
  const turn2 = turn1 + words(80, "b");

  it("conversation extended -> same hashes as hashing it all", () => {
    const known = prefixBlocks(turn1, 64).hashes;
    expect(prefixBlocks(turn2, 64, known)).toEqual(prefixBlocks(turn2, 64));
  });

  it.each([
    ["last known block edited", turn1.slice(0, -70) + "X" + turn1.slice(-69) + words(80, "b")],
    ["conversation shorter than the known blocks", turn1.slice(0, 100)],
    ["a different conversation", words(200, "z")],
  ])("%s -> falls back to hashing it all", (_name, text) => {
    const known = prefixBlocks(turn1, 64).hashes;
    expect(prefixBlocks(text, 64, known)).toEqual(prefixBlocks(text, 64));
  });
});

describe("PrefixIndex", () => {
  const conv1 = conversationText([{ role: "user", content: "q".repeat(400) }]);
  const conv2 = conversationText([
    { role: "user", content: "q".repeat(400) },
    { role: "assistant", content: "r".repeat(400) },
  ]);

  it("next turn of a conversation sent to one node -> predicted hit there, none elsewhere", () => {
    const idx = new PrefixIndex(64, 1000);
    idx.record("a", prefixBlocks(conv1, 64));
    const hits = idx.predictHits(prefixBlocks(conv2, 64), ["a", "b"]);
    // Turn 1's full blocks are cached: about half of turn 2's text.
    expect(hits.get("a")).toBeGreaterThan(0.4);
    expect(hits.get("a")).toBeLessThan(0.55);
    expect(hits.get("b")).toBe(0);
  });

  it("capacity exceeded -> oldest hashes evicted first", () => {
    const idx = new PrefixIndex(10, 3);
    idx.record("a", prefixBlocks("a".repeat(30), 10));
    idx.record("a", prefixBlocks("b".repeat(20), 10));
    expect(idx.size("a")).toBe(3);
    expect(idx.predictHits(prefixBlocks("a".repeat(30), 10), ["a"]).get("a")).toBe(0); // first block gone
  });

  it("forgetNode -> no hits predicted on that node", () => {
    const idx = new PrefixIndex(10, 100);
    const b = prefixBlocks("z".repeat(50), 10);
    idx.record("a", b);
    idx.forgetNode("a");
    expect(idx.predictHits(b, ["a"]).get("a")).toBe(0);
  });

  it("no blocks (a policy without prefix hits) -> nothing recorded, no per-node table", () => {
    const idx = new PrefixIndex(10, 1_000_000);
    idx.record("a", prefixBlocks("short", 10));
    expect(idx.size("a")).toBe(0);
    expect((idx as unknown as { byNode: Map<string, unknown> }).byNode.size).toBe(0);
  });
});
