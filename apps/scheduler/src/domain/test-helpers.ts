import { rngFor } from "@symphony/common";
import type { NodeSnapshot, RouteContext, RouteRequest } from "./types";

/** A node snapshot with idle defaults, for tests. */
export function node(nodeId: string, patch: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    nodeId,
    address: `${nodeId}:1`,
    up: true,
    draining: false,
    queueDepth: 0,
    running: 0,
    inFlight: 0,
    kvUsedTokens: 0,
    kvBudgetTokens: 10_000,
    sessions: 0,
    observedAtUs: 0,
    ...patch,
  };
}

export function request(patch: Partial<RouteRequest> = {}): RouteRequest {
  return {
    sessionId: "s1",
    turnIndex: 0,
    sessionNodeId: undefined,
    promptTokens: 0,
    predictedHitByNode: new Map(),
    ...patch,
  };
}

export function ctx(seed = 1): RouteContext {
  return { nowUs: 0, rng: rngFor(seed, "test") };
}
