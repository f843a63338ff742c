import { parentPort } from "node:worker_threads";
import { createLogger } from "@symphony/runtime";
import { parseConfig, type Config } from "../config";
import type { RequestRecord } from "@symphony/measure";
import { PartitionedSource } from "../domain";
import { runnerShare } from "../shard";
import { InProcessSender } from "../sender";
import { buildWorkload } from "../workload";
import type { FromWorker, SendWorkerData, ToWorker } from "./protocol";
import { SharedSendQuota } from "./shared-quota";

/** Records are posted to the main thread in batches: at most this often... */
const FLUSH_MS = 20;
/** ...or as soon as this many are waiting. */
const MAX_BATCH = 512;
/** Counts for the progress line are posted at least this often, records or not. */
const STATUS_MS = 250;

/**
 * A sending worker thread (`--workers N`): plays its part of the plan (every Nth session, its
 * share of closed-loop clients) on its own event loop, PreciseTimers and connections, exactly as
 * the single-thread path does, and posts the records back in batches. The main thread keeps
 * statistics, files, progress and the stop rules; this thread only sends and measures (schedule
 * lag and event-loop delay are measured here, where the sending happens).
 */
export async function runSendWorker(data: SendWorkerData): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("runSendWorker: not in a worker thread");
  const post = (message: FromWorker) => port.postMessage(message);
  try {
    const config = parseConfig(data.argv);
    const logger = createLogger(`workloadgen.worker-${data.index}`, config.logLevel);
    const workload = buildWorkload(config);
    // This thread's share: every `count`-th session; the run-wide --max-requests is the shared
    // quota instead of a per-thread cap.
    // (With --shard: the thread's share of this shard's share.)
    const share = runnerShare(config, { index: data.index, count: data.count });
    const own: Readonly<Config> = { ...config, numClients: share.numClients, maxRequests: Infinity };
    const quota = data.quota
      ? new SharedSendQuota(data.quota, share.shardMaxRequests, () => post({ type: "quota-exhausted" }))
      : undefined;
    const sender = new InProcessSender(
      own,
      { ...workload, source: new PartitionedSource(workload.source, data.index, data.count) },
      logger,
      {
        runId: `${data.runId}-w${data.index}`,
        renderLines: data.renderLines,
        ...(quota ? { sendQuota: quota } : {}),
        slotOffset: share.slotOffset,
        slotStride: share.slotStride,
        totalClients: share.totalClients,
      },
    );
    try {
      await sender.prepare();
    } catch (err) {
      await sender.close();
      post({ type: "not-ready", message: (err as Error).message });
      return;
    }

    let records: RequestRecord[] = [];
    let lines: string[] = [];
    let lastPostMs = 0;
    const flush = () => {
      lastPostMs = performance.now();
      if (records.length === 0) return post({ type: "status", status: sender.status() });
      post({
        type: "records",
        records,
        lines: data.renderLines ? lines.join("\n") : undefined,
        status: sender.status(),
      });
      records = [];
      lines = [];
    };
    const ticker = setInterval(() => {
      if (records.length > 0 || performance.now() - lastPostMs >= STATUS_MS) flush();
    }, FLUSH_MS);

    const begin = () =>
      sender.start({
        records: (batch, text) => {
          for (const r of batch) records.push(r);
          if (text !== undefined) lines.push(text);
          if (records.length >= MAX_BATCH) flush();
        },
        done: () => {
          clearInterval(ticker);
          flush();
          post({
            type: "done",
            status: sender.status(),
            counters: sender.counters(),
            loopDelay: sender.loopDelay().merged,
          });
        },
      });

    port.on("message", (message: ToWorker) => {
      switch (message.type) {
        case "start": {
          // All workers start their schedules at the same instant (the main thread picked it).
          const waitMs = message.atEpochMs - (performance.timeOrigin + performance.now());
          setTimeout(
            () => {
              while (performance.timeOrigin + performance.now() < message.atEpochMs) {
                // the last fraction of a millisecond: setTimeout has whole-ms resolution
              }
              begin();
            },
            Math.max(0, waitMs - 1.5),
          );
          break;
        }
        case "stop":
          sender.stop();
          break;
        case "abort":
          sender.abort();
          break;
        case "close":
          clearInterval(ticker);
          void sender.close().finally(() => {
            post({ type: "closed" });
            port.close();
          });
          break;
      }
    });
    post({ type: "ready", modelName: sender.modelName() });
  } catch (err) {
    post({ type: "fatal", message: (err as Error).stack ?? String(err) });
  }
}
