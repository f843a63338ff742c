import { describe, expect, it } from "vitest";
import { InFlightRelays } from "./relay";

describe("InFlightRelays", () => {
  it("node down with silence 0 -> every relay of that node aborted, others kept", () => {
    const relays = new InFlightRelays();
    const aborted: string[] = [];
    relays.add("a", (r) => aborted.push(`a1:${r}`));
    relays.add("a", (r) => aborted.push(`a2:${r}`));
    relays.add("b", (r) => aborted.push(`b1:${r}`));
    expect(relays.abortNode("a", "gone")).toBe(2);
    expect(aborted).toEqual(["a1:gone", "a2:gone"]);
  });

  it("removed relay -> not aborted", () => {
    const relays = new InFlightRelays();
    const aborted: string[] = [];
    relays.add("a", () => aborted.push("x")).remove();
    expect(relays.abortNode("a", "gone")).toBe(0);
    expect(aborted).toEqual([]);
  });

  it("heartbeat timeout -> relays still hearing from the node are kept", () => {
    const relays = new InFlightRelays();
    const aborted: string[] = [];
    relays.add("a", () => aborted.push("streaming")).touch();
    // A relay that just heard from the node is not silent for an hour.
    expect(relays.abortNode("a", "late heartbeat", 3_600_000)).toBe(0);
    expect(aborted).toEqual([]);
  });

  it("heartbeat timeout -> a relay that never heard from the node is aborted however young", () => {
    // A call opened just after a crash gets no TCP reset from a dead host: only this ends it.
    const relays = new InFlightRelays();
    const aborted: string[] = [];
    relays.add("a", () => aborted.push("never-heard"));
    relays.add("a", () => aborted.push("streaming")).touch();
    expect(relays.abortNode("a", "late heartbeat", 3_600_000)).toBe(1);
    expect(aborted).toEqual(["never-heard"]);
  });
});
