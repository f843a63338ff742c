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

  it("heartbeat timeout -> only relays silent for that long are aborted", () => {
    const relays = new InFlightRelays();
    const aborted: string[] = [];
    relays.add("a", () => aborted.push("fresh"));
    // A relay just created is not silent for an hour.
    expect(relays.abortNode("a", "late heartbeat", 3_600_000)).toBe(0);
    expect(aborted).toEqual([]);
  });
});
