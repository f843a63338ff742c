import * as grpc from "@grpc/grpc-js";
import { ServingStatus, type Logger } from "@symphony/runtime";
import type { Router } from "../domain";
import { deadlineIn, type NodeClients } from "./node-clients";
import { loadFromStatus, type StatusCache } from "./service";

/**
 * Polls each static (`--nodes`) node every `intervalMs`: grpc health Check and Status, both
 * with a deadline. Success reports the node's id and load (bringing it up); failure or
 * NOT_SERVING marks it down. One poll per node at a time.
 */
export class StaticNodePoller {
  private timer: NodeJS.Timeout | undefined;
  private readonly busy = new Set<string>();

  constructor(
    private readonly router: Router,
    private readonly clients: NodeClients,
    private readonly statuses: StatusCache,
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly callTimeoutMs: number,
  ) {}

  start(): void {
    this.pollAll();
    this.timer = setInterval(() => this.pollAll(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  pollAll(): void {
    for (const address of this.router.registry.staticAddresses()) void this.poll(address);
  }

  /**
   * One health check of a node (any source), after a relay to it failed: a failed check or
   * NOT_SERVING marks it down; a timeout does not (a busy node is not a dead node).
   */
  async probeHealth(nodeId: string, address: string): Promise<void> {
    const key = `probe:${nodeId}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    try {
      const health = await new Promise<ServingStatus>((resolve, reject) =>
        this.clients
          .health(address)
          .check(
            { service: "" },
            new grpc.Metadata(),
            { deadline: deadlineIn(this.callTimeoutMs) },
            (err, res) => (err ? reject(err) : resolve(res.status)),
          ),
      );
      if (health !== ServingStatus.SERVING)
        this.router.registry.markUnhealthy(nodeId, `health check: ${ServingStatus[health] ?? health}`);
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code !== grpc.status.DEADLINE_EXCEEDED)
        this.router.registry.markDown(nodeId, `health check failed: ${e.details ?? String(err)}`);
    } finally {
      this.busy.delete(key);
    }
  }

  async poll(address: string): Promise<void> {
    if (this.busy.has(address)) return;
    this.busy.add(address);
    try {
      const deadline = deadlineIn(this.callTimeoutMs);
      const [health, status] = await Promise.all([
        new Promise<ServingStatus>((resolve, reject) =>
          this.clients
            .health(address)
            .check({ service: "" }, new grpc.Metadata(), { deadline }, (err, res) =>
              err ? reject(err) : resolve(res.status),
            ),
        ),
        new Promise<import("@symphony/runtime").NodeStatus>((resolve, reject) =>
          this.clients
            .node(address)
            .status({}, new grpc.Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res))),
        ),
      ]);
      if (health !== ServingStatus.SERVING) {
        this.router.registry.markDownByAddress(address, `health check: ${ServingStatus[health] ?? health}`);
        return;
      }
      const nodeId = status.nodeId || address;
      this.statuses.set(nodeId, status);
      const wasUp = this.router.registry.byAddress(address)?.up ?? false;
      this.router.registry.observePoll(address, nodeId, loadFromStatus(status), false);
      if (!wasUp) this.logger.info("node up", { nodeId, address });
    } catch (err) {
      const e = err as grpc.ServiceError;
      // A slow answer is not a dead node (the scheduler or node may just be busy): leave it to
      // the heartbeat timeout. Refused connections and errors mark it down at once.
      if (e.code === grpc.status.DEADLINE_EXCEEDED) {
        this.logger.debug("poll timed out", { address });
        return;
      }
      this.router.registry.markDownByAddress(address, `poll failed: ${e.details ?? String(err)}`);
    } finally {
      this.busy.delete(address);
    }
  }
}
