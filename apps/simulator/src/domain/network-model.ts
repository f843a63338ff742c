/** One network link: a fixed one-way latency plus serialization at a bandwidth. */
export interface LinkConfig {
  /** One-way propagation + stack latency, µs (>= 0). */
  readonly latencyUs: number;
  /** Link bandwidth in bytes per second (> 0). */
  readonly bandwidthBytesPerSec: number;
}

/** The links a turn crosses, client -> scheduler -> node -> engine (and back the same way). */
export interface NetworkConfig {
  readonly clientScheduler: LinkConfig;
  readonly schedulerNode: LinkConfig;
  readonly nodeEngine: LinkConfig;
}

export type LinkName = keyof NetworkConfig;

/** Bytes of one small streamed event on the wire (a token chunk, Started, Finished), for delays. */
export const EVENT_BYTES = 120;

/**
 * Delays of messages on the simulated links: `latency + bytes / bandwidth`, in integer µs.
 * Links are not shared queues (no contention model): at these message sizes (KB prompts over
 * Gbit links) serialization is microseconds, so queueing on the wire is negligible next to
 * engine steps. KV offload/prefetch copies are modelled by the node's own TransferModel (bandwidth
 * per direction, copies queue behind each other), configured by `node.offload_gbps`.
 */
export class NetworkModel {
  /** Delay of one small event from the engine all the way back to the client, µs. */
  readonly eventEngineToClientUs: number;
  readonly eventEngineToNodeUs: number;
  readonly eventNodeToSchedulerUs: number;
  readonly eventSchedulerToClientUs: number;
  readonly eventNodeToClientUs: number;

  constructor(readonly config: NetworkConfig) {
    for (const [name, link] of Object.entries(config) as [LinkName, LinkConfig][]) {
      if (!(link.latencyUs >= 0)) throw new RangeError(`${name}: latencyUs must be >= 0`);
      if (!(link.bandwidthBytesPerSec > 0)) throw new RangeError(`${name}: bandwidthBytesPerSec must be > 0`);
    }
    this.eventEngineToNodeUs = this.delayUs("nodeEngine", EVENT_BYTES);
    this.eventNodeToSchedulerUs = this.delayUs("schedulerNode", EVENT_BYTES);
    this.eventSchedulerToClientUs = this.delayUs("clientScheduler", EVENT_BYTES);
    this.eventNodeToClientUs = this.eventNodeToSchedulerUs + this.eventSchedulerToClientUs;
    this.eventEngineToClientUs = this.eventEngineToNodeUs + this.eventNodeToClientUs;
  }

  /** One-way delay of a `bytes`-byte message on `link`, µs (integer, >= 0). */
  delayUs(link: LinkName, bytes: number): number {
    const l = this.config[link];
    return Math.round(l.latencyUs + (Math.max(0, bytes) / l.bandwidthBytesPerSec) * 1e6);
  }
}
