import type { Logger } from "@symphony/runtime";
import type { Config } from "./config";
import { summarizeServerMetrics, warmCacheReason, type ServerMetricsSample } from "@symphony/measure";
import {
  originOf,
  resetPrefixCache,
  ServerMetricsScraper,
  type PrefixCacheReset,
} from "./transport/server-metrics";

/** What the run's summary gets from watching the servers. */
export interface ServerWatchResult {
  samples: ServerMetricsSample[];
  /** summary.json `server_metrics` (undefined without --server-metrics). */
  summary: Record<string, unknown> | undefined;
  /** summary.json `prefix_cache_reset` (undefined without --reset-prefix-cache). */
  resets: PrefixCacheReset[] | undefined;
  /** Lines for summary.json `warnings` and the terminal. */
  warnings: string[];
}

/**
 * The servers' side of a run: `--reset-prefix-cache` before it, `--server-metrics` scrapes
 * during it (from just before the start to just after the end), and the warm-cache check on
 * the scrape taken right before the start.
 */
export class ServerWatch {
  private readonly scraper: ServerMetricsScraper | undefined;
  private resets: PrefixCacheReset[] | undefined;
  private readonly warnings: string[] = [];

  constructor(
    private readonly config: Readonly<Config>,
    private readonly logger: Logger,
  ) {
    const o = config.servers;
    this.scraper =
      o && o.metrics.length > 0 ? new ServerMetricsScraper(o.metrics, o.intervalS * 1000) : undefined;
  }

  /** Before the first request: find the engines, reset their prefix caches if asked, and take the baseline scrape. */
  async beforeRun(): Promise<void> {
    const first = this.scraper ? await this.scraper.scrapeAll() : [];
    for (const s of first)
      if (s.error !== undefined) this.warn(`--server-metrics ${s.endpoint}: scrape failed (${s.error})`);
    const reset = this.config.servers?.resetPrefixCache === true;
    if (reset) {
      const engines = new Set<string>();
      if (this.config.targetKind === "http") engines.add(originOf(this.config.target));
      for (const s of first)
        if (Object.keys(s.metrics).some((k) => k.startsWith("vllm:"))) engines.add(originOf(s.endpoint));
      if (engines.size === 0)
        this.warn(
          "--reset-prefix-cache: no engine to reset (a gRPC target hides its engines: list their /metrics in --server-metrics)",
        );
      this.resets = await Promise.all([...engines].map((o) => resetPrefixCache(o)));
      for (const r of this.resets) {
        if (r.ok) this.logger.info("prefix cache reset", { url: r.url });
        else this.warn(`--reset-prefix-cache ${r.url}: ${r.message}`);
      }
    }
    if (!this.scraper) return;
    const baseline = reset ? await this.scraper.scrapeAll() : first;
    const resetOk = new Set((this.resets ?? []).filter((r) => r.ok).map((r) => originOf(r.url)));
    for (const s of baseline) {
      const why = warmCacheReason(s.metrics, resetOk.has(originOf(s.endpoint)));
      if (why) this.warn(`warm cache at start: ${s.endpoint}: ${why}`);
    }
  }

  start(): void {
    this.scraper?.start();
  }

  /** After the last request: the last scrape, and everything for the summary. */
  async finish(scheduleStartMs: number): Promise<ServerWatchResult> {
    await this.scraper?.stop();
    const samples = this.scraper?.samples(scheduleStartMs) ?? [];
    return {
      samples,
      summary: this.scraper
        ? {
            interval_s: this.config.servers?.intervalS,
            file: "server-metrics.jsonl",
            endpoints: summarizeServerMetrics(samples),
          }
        : undefined,
      resets: this.resets,
      warnings: this.warnings,
    };
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.logger.warn(message);
  }
}
