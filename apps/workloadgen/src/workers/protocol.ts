import type { RequestRecord } from "@symphony/measure";
import type { LoopDelayFigures, SenderStatus } from "../sender";
import type { AdviceCounters } from "../transport/grpc-target";

/** Marks `workerData` of a sending worker, so main.ts knows which role the bundle plays. */
export const SEND_WORKER_KIND = "workloadgen-send-worker";

/** What a sending worker is started with (structured-cloned into the worker). */
export interface SendWorkerData {
  kind: typeof SEND_WORKER_KIND;
  /** The run's command line (without node and script): the worker parses the same Config. */
  argv: string[];
  /** This worker's part of the plan, 0-based, and the number of parts. */
  index: number;
  count: number;
  /** Prefix of request ids (the worker adds `-w<index>`). */
  runId: string;
  /** Shared send counter (one Int32) when `--max-requests` is set. */
  quota: SharedArrayBuffer | undefined;
  /** Render requests.jsonl lines in the worker (the run has `--out`). */
  renderLines: boolean;
}

export function isSendWorkerData(data: unknown): data is SendWorkerData {
  return typeof data === "object" && data !== null && (data as { kind?: unknown }).kind === SEND_WORKER_KIND;
}

/** Main thread -> worker. `start.atEpochMs`: when to start the schedule (ms since the epoch, fractional). */
export type ToWorker =
  { type: "start"; atEpochMs: number } | { type: "stop" } | { type: "abort" } | { type: "close" };

/** Worker -> main thread. */
export type FromWorker =
  | { type: "ready"; modelName: string }
  | { type: "not-ready"; message: string }
  /** A batch of finished requests (and their requests.jsonl lines joined by "\n"), with the counts now. */
  | { type: "records"; records: RequestRecord[]; lines: string | undefined; status: SenderStatus }
  | { type: "status"; status: SenderStatus }
  /** This worker claimed the last send of `--max-requests`: the others should stop too. */
  | { type: "quota-exhausted" }
  | { type: "done"; status: SenderStatus; counters: AdviceCounters; loopDelay: LoopDelayFigures }
  | { type: "closed" }
  | { type: "fatal"; message: string };
