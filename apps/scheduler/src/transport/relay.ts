import * as grpc from "@grpc/grpc-js";
import {
  ROLE_NAMES,
  validateInferenceRequest,
  type InferenceEvent,
  type InferenceRequest,
  type Logger,
} from "@symphony/runtime";
import { TurnPlacement, type Router } from "../domain";
import type { SchedulerMetrics } from "./metrics";
import { statusName, type NodeClients } from "./node-clients";
import type { NodeSubmit } from "./node-submit-call";
import { eventToInspect, isStartedEvent, requestBytes, type RelayedEvent } from "./raw-relay-codec";

export interface RelayDeps {
  readonly router: Router;
  readonly clients: NodeClients;
  readonly metrics: SchedulerMetrics;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /**
   * A turn that finds no node up waits up to this long (within its deadline) for one to register
   * or come back, re-trying every 100 ms: after a scheduler restart nodes need a moment to
   * register again, and those turns should not fail. Default 0 (fail at once).
   */
  readonly waitForNodeMs?: number;
  /**
   * Re-checks a node's health now, after a relay to it failed; a failed check marks it down.
   * Optional (without it only --relay-failures-to-down consecutive failures mark a node down).
   */
  readonly probe?: (nodeId: string) => void;
}

/** How often a turn waiting for a node (see RelayDeps.waitForNodeMs) looks again, ms. */
const NO_NODE_RETRY_MS = 100;

interface TrackedRelay {
  abort(reason: string): void;
  /** performance.now() of the last event from the node (or of the call's start). */
  lastActivityMs: number;
  /** Whether the node has sent anything at all on this call. */
  heardAny: boolean;
}

/**
 * Relays in flight per node, so a node marked down can fail its stuck turns at once instead of
 * letting them hang until TCP keepalive notices.
 */
export class InFlightRelays {
  private readonly byNode = new Map<string, Set<TrackedRelay>>();

  add(nodeId: string, abort: (reason: string) => void): { touch(): void; remove(): void } {
    let set = this.byNode.get(nodeId);
    if (!set) {
      set = new Set();
      this.byNode.set(nodeId, set);
    }
    const relay: TrackedRelay = { abort, lastActivityMs: performance.now(), heardAny: false };
    set.add(relay);
    return {
      touch: () => {
        relay.lastActivityMs = performance.now();
        relay.heardAny = true;
      },
      remove: () => void set.delete(relay),
    };
  }

  /**
   * Fails the node's relays that have heard nothing from it for `silentForMs` (0 = all), and
   * every relay that has heard nothing at all: a call opened just before a crash may be younger
   * than `silentForMs`, and a dead host sends no TCP reset, so nothing else would ever end it.
   * Relays still receiving events are left alone: a node whose heartbeats are late but whose
   * streams flow is alive (a dead node's streams fail on their own when its connection drops).
   */
  abortNode(nodeId: string, reason: string, silentForMs = 0): number {
    const set = this.byNode.get(nodeId);
    if (!set) return 0;
    const cutoff = performance.now() - silentForMs;
    const stale = [...set].filter((r) => silentForMs === 0 || !r.heardAny || r.lastActivityMs <= cutoff);
    for (const r of stale) {
      set.delete(r);
      r.abort(reason);
    }
    return stale.length;
  }
}

/** The client side of a Submit, as the relay uses it (events may be pre-serialized bytes). */
export type SubmitCall = grpc.ServerWritableStream<InferenceRequest, RelayedEvent>;

/** Writes a last event and ends the stream (grpc-js `end()` takes metadata, not a message). */
function endWith(call: SubmitCall, ev: InferenceEvent): void {
  call.write(ev);
  call.end();
}

function errorEvent(code: string, message: string, retryable: boolean): InferenceEvent {
  return { event: { $case: "error", value: { code, message, retryable } } };
}

/** The turn's deadline in ms from now: the earliest of ours, `deadline_ms` and the client's gRPC deadline. */
function turnDeadlineMs(call: SubmitCall, req: InferenceRequest, requestTimeoutMs: number): number {
  let deadlineMs = requestTimeoutMs;
  if (req.deadlineMs > 0) deadlineMs = Math.min(deadlineMs, req.deadlineMs);
  const clientDeadline = call.getDeadline();
  const clientMs =
    clientDeadline instanceof Date
      ? clientDeadline.getTime() - Date.now()
      : Number(clientDeadline) - Date.now();
  if (Number.isFinite(clientMs) && clientMs > 0) deadlineMs = Math.min(deadlineMs, clientMs);
  return deadlineMs;
}

/**
 * Submit: validate, route, then relay the node's event stream to the client with back-pressure
 * (the next event is read from the node only while the client's buffer has room), client
 * cancellation propagated to the node, and a per-request deadline. Turn failures (no node, node
 * died mid-turn, deadline) end the stream with a TurnError event; malformed requests get
 * INVALID_ARGUMENT. Events are relayed as the node's bytes (see raw-relay-codec.ts). Placement,
 * placing again after a node fails before any output, and the router's started/ended bookkeeping
 * follow the domain's TurnPlacement (the simulated cluster follows it too).
 */
export function handleSubmit(call: SubmitCall, deps: RelayDeps, inFlight: InFlightRelays): void {
  const receivedAt = performance.now();
  const req = call.request;
  const { router, metrics, logger } = deps;
  const invalid = validateInferenceRequest(req);
  if (invalid) {
    metrics.turnFailed("INVALID_ARGUMENT");
    call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: invalid });
    return;
  }

  const placement = new TurnPlacement(router, {
    sessionId: req.sessionId,
    turnIndex: req.turnIndex,
    promptTokens: req.promptTokens,
    parentSessionId: req.parentSessionId,
    isLast: req.isLast,
    prompt: req.prompt,
    // Only prefix-aware policies read the conversation: skip the copy per turn for the others.
    // Validated above: every role has a name.
    messages:
      router.policy.usesPrefixHits && !req.prompt
        ? req.messages.map((m) => ({ role: ROLE_NAMES[m.role]!, content: m.content }))
        : undefined,
  });
  const deadlineMs = turnDeadlineMs(call, req, deps.requestTimeoutMs);
  const deadlineEpochMs = Date.now() + deadlineMs;

  // The client may have left before this handler ran; its "cancelled" event is then gone.
  if (call.cancelled) return;
  let clientGone = false;
  let cancelCurrent: (() => void) | undefined;
  call.on("cancelled", () => {
    // The client went away: stop the work on the node too.
    clientGone = true;
    cancelCurrent?.();
  });

  const failTurn = (code: string, message: string, retryable: boolean) => {
    metrics.turnFailed(code);
    if (!call.cancelled && !call.writableEnded) endWith(call, errorEvent(code, message, retryable));
  };

  /** Places and relays; a node that fails before sending anything is skipped and the turn placed again. */
  const attempt = (): void => {
    if (clientGone) return;
    const outcome = placement.place();
    if (!outcome.ok) {
      const waitUntil = Math.min(
        receivedAt + (deps.waitForNodeMs ?? 0),
        performance.now() + (deadlineEpochMs - Date.now()),
      );
      if (outcome.noNodeUp && performance.now() + NO_NODE_RETRY_MS <= waitUntil) {
        setTimeout(attempt, NO_NODE_RETRY_MS);
        return;
      }
      logger.warn("no node for turn", { sessionId: req.sessionId, reason: outcome.message });
      failTurn("UNAVAILABLE", outcome.message, true);
      return;
    }
    const { decision, address, nodeId, attemptNo } = outcome;
    metrics.routedTo(nodeId);
    metrics.decided(decision.reason);
    if (outcome.failoverFrom !== undefined) {
      metrics.failovers.inc({ from_node: outcome.failoverFrom });
      logger.info("session failed over", {
        sessionId: req.sessionId,
        from: outcome.failoverFrom,
        to: nodeId,
      });
    }

    metrics.inFlightTurns++;

    let done = false;
    let firstEventSeen = false;
    /** Whether anything of this attempt was written to the client (then it cannot move). */
    let relayedAny = false;
    /** The node's Started, held until something follows it (see onEvent). */
    let heldStarted: Buffer | undefined;
    let contextTokens = 0;
    const finish = () => {
      if (done) return false;
      done = true;
      tracked.remove();
      cancelCurrent = undefined;
      metrics.inFlightTurns--;
      placement.end(contextTokens);
      return true;
    };
    /** The node is gone for this turn: count it against the node, then place again or fail. */
    const nodeFailed = (why: string) => {
      // One failure is not proof the node is dead (a call can fail on its own): the registry
      // marks it down after consecutive failures, and the probe confirms with a health check.
      placement.relayFailed(why);
      deps.probe?.(nodeId);
      if (!relayedAny && placement.failedBeforeOutput(why)) return attempt();
      failTurn("UNAVAILABLE", `node ${nodeId} (${address}) became unavailable during the turn: ${why}`, true);
    };

    const tracked = inFlight.add(nodeId, (reason) => {
      if (!finish()) return;
      upstream?.cancel(`node ${nodeId} down`);
      // Nothing reached the client from the dead node: place the turn again elsewhere.
      if (!relayedAny && placement.failedBeforeOutput(reason)) return attempt();
      failTurn("UNAVAILABLE", `node ${nodeId} (${address}) went down during the turn (${reason})`, true);
    });
    // Assigned right below; the listener's callbacks only run after the constructor returns.
    let upstream: NodeSubmit | undefined = undefined;
    upstream = deps.clients.submit(address, requestBytes(req), deadlineEpochMs, {
      onEvent(bytes) {
        if (done) return;
        tracked.touch();
        if (!firstEventSeen) {
          firstEventSeen = true;
          metrics.firstEvent.observe((performance.now() - receivedAt) / 1000);
        }
        // Started waits for what follows it: if the node then fails the turn before its first
        // token, the client has seen nothing and the turn can still go to another node.
        if (!relayedAny && isStartedEvent(bytes)) {
          heldStarted = bytes;
          upstream?.readNext();
          return;
        }
        const ev = eventToInspect(bytes);
        if (ev?.event?.$case === "finished") {
          router.registry.noteAlive(nodeId);
          const u = ev.event.value.usage;
          if (u) contextTokens = u.promptTokens + u.completionTokens;
        } else if (ev?.event?.$case === "error") {
          const e = ev.event.value;
          if (!relayedAny && e.retryable && placement.mayPlaceAgain && !clientGone) {
            // E.g. the node's engine is unreachable: nothing reached the client, so the turn is
            // placed on another node instead of failing (the node is probed: NOT_SERVING takes
            // it out of rotation).
            if (!finish()) return;
            upstream?.cancel("turn placed on another node");
            logger.warn("turn failed before any output, placing it again", {
              sessionId: req.sessionId,
              nodeId,
              code: e.code,
              message: e.message,
            });
            metrics.redispatched.inc({ code: e.code || "UNKNOWN" });
            deps.probe?.(nodeId);
            placement.failedBeforeOutput(`${e.code}: ${e.message}`);
            return attempt();
          }
          metrics.turnFailed(e.code || "UNKNOWN");
        }
        if (heldStarted) {
          call.write(heldStarted);
          heldStarted = undefined;
        }
        relayedAny = true;
        // Back-pressure: ask the node for the next event only once the client has room.
        if (call.write(bytes)) upstream?.readNext();
        else call.once("drain", () => upstream?.readNext());
      },
      onStatus(code, details) {
        if (!finish()) return;
        if (code === grpc.status.OK) {
          if (!call.cancelled && !call.writableEnded) call.end();
          return;
        }
        if (clientGone) return; // our own cancel after the client went away
        logger.warn("relay failed", { sessionId: req.sessionId, nodeId, code: statusName(code), details });
        // UNAVAILABLE: the connection failed. CANCELLED that we did not ask for: the node
        // dropped the call (shutting down or crashed). Either way the node is gone for this turn.
        if (code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED)
          nodeFailed(`${statusName(code)}: ${details}`);
        else if (code === grpc.status.DEADLINE_EXCEEDED)
          failTurn(
            statusName(code),
            `turn exceeded its deadline of ${deadlineMs} ms on node ${nodeId}`,
            false,
          );
        else failTurn(statusName(code), `node ${nodeId} (${address}) failed the turn: ${details}`, false);
      },
    });
    if (attemptNo === 0) metrics.routeOverhead.observe((performance.now() - receivedAt) / 1000);

    cancelCurrent = () => {
      if (finish()) upstream?.cancel("client cancelled");
    };
  };
  attempt();
}
