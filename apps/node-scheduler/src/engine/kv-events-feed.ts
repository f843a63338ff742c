import type { Logger } from "@symphony/runtime";
import { KvResidencyIndex, ZmqEventSubscriber, type SubscriberStats } from "@symphony/kv-events";
import type { KvEventsSource } from "../config";

/**
 * The engine's KV-cache events (vLLM `--kv-events-config`, ZMQ) applied to a residency index:
 * which blocks the engine really holds on the GPU and in its CPU offload tier. A sequence gap
 * that replay cannot fill, or an engine restart (sequence numbers start again), clears the index:
 * what it held is unknown or gone, and the engine's next events rebuild it.
 */
export class EngineKvEvents {
  private constructor(
    readonly index: KvResidencyIndex,
    private readonly subscriber: ZmqEventSubscriber,
    readonly endpoint: string,
  ) {}

  static async open(source: KvEventsSource, logger: Logger): Promise<EngineKvEvents> {
    const index = new KvResidencyIndex();
    let lastErrorLogMs = 0;
    const subscriber = await ZmqEventSubscriber.open({
      endpoint: source.endpoint,
      bind: source.bind,
      replayEndpoint: source.replayEndpoint ?? null,
      topic: source.topic,
      onBatch: (batch) => index.apply(batch.events),
      onReset: (reason) => {
        index.clear();
        logger.warn("kv events: engine state reset, residency index cleared", { reason });
      },
      onError: (err) => {
        // A flood of bad messages must not flood the log: one line per 10 s.
        const now = Date.now();
        if (now - lastErrorLogMs < 10_000) return;
        lastErrorLogMs = now;
        logger.warn("kv events: message skipped", { error: err.message });
      },
    });
    return new EngineKvEvents(index, subscriber, subscriber.endpoint);
  }

  stats(): SubscriberStats {
    return this.subscriber.stats();
  }

  close(): Promise<void> {
    return this.subscriber.close();
  }
}
