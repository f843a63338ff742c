import { request } from "undici";
import { InvalidArgumentError } from "commander";
import { parsePrometheusText, type ServerMetricsSample } from "@symphony/measure";

/** A scrape that takes longer than this fails (and the next one is not held up), ms. */
const SCRAPE_TIMEOUT_MS = 2_000;

/**
 * `--server-metrics`: a comma-separated list of engines' and nodes' Prometheus endpoints.
 * `host:port` and `http://host:port` mean `http://host:port/metrics`; a URL with a path is kept.
 */
export function parseMetricsUrls(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const withScheme = /^https?:\/\//i.test(item) ? item : `http://${item}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new InvalidArgumentError(`expected http://host:port[/metrics] items, got "${item}"`);
      }
      if (!url.hostname)
        throw new InvalidArgumentError(`expected http://host:port[/metrics] items, got "${item}"`);
      if (url.pathname === "/" || url.pathname === "") url.pathname = "/metrics";
      return url.toString();
    });
}

/** GET one /metrics page and reduce it (see `parsePrometheusText`). */
export async function scrapeOnce(
  url: string,
  timeoutMs = SCRAPE_TIMEOUT_MS,
): Promise<Record<string, number>> {
  const res = await request(url, { method: "GET", headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  return parsePrometheusText(text);
}

/**
 * Scrapes every endpoint every `intervalMs` while the run goes on, one scrape per endpoint at a
 * time (a slow endpoint skips ticks instead of piling requests up). Samples are stamped with
 * `performance.now()` and put on the records' time line when the run has started (`samples(startMs)`).
 */
export class ServerMetricsScraper {
  private readonly raw: {
    atMs: number;
    endpoint: string;
    metrics: Record<string, number>;
    error?: string;
  }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly busy = new Set<string>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    readonly urls: readonly string[],
    private readonly intervalMs: number,
  ) {}

  /** One scrape of every endpoint now; resolves with this round's samples (the warm-cache check reads them). */
  async scrapeAll(): Promise<{ endpoint: string; metrics: Record<string, number>; error?: string }[]> {
    return Promise.all(this.urls.map((u) => this.scrape(u)));
  }

  private scrape(
    endpoint: string,
  ): Promise<{ endpoint: string; metrics: Record<string, number>; error?: string }> {
    this.busy.add(endpoint);
    const atMs = performance.now();
    const done = scrapeOnce(endpoint)
      .then(
        (metrics) => ({ endpoint, metrics }),
        (err: unknown) => ({ endpoint, metrics: {}, error: (err as Error).message || String(err) }),
      )
      .then((s) => {
        this.raw.push({ atMs, ...s });
        this.busy.delete(endpoint);
        return s;
      });
    const tracked = done.then(() => {});
    this.pending.add(tracked);
    void tracked.then(() => this.pending.delete(tracked));
    return done;
  }

  start(): void {
    this.timer = setInterval(() => {
      for (const u of this.urls) if (!this.busy.has(u)) void this.scrape(u);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the ticks, takes a last scrape of every endpoint (the run's end) and waits for it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
    await this.scrapeAll();
  }

  /** Every sample, in scrape order, `t_ms` counted from `startMs` (the schedule's start, performance.now()). */
  samples(startMs: number): ServerMetricsSample[] {
    return [...this.raw]
      .sort((a, b) => a.atMs - b.atMs)
      .map((s) => ({
        t_ms: Math.round((s.atMs - startMs) * 1000) / 1000,
        endpoint: s.endpoint,
        ...(s.error !== undefined ? { error: s.error } : {}),
        metrics: s.metrics,
      }));
  }
}

/** The outcome of `POST /reset_prefix_cache` on one engine. */
export interface PrefixCacheReset {
  url: string;
  ok: boolean;
  /** HTTP status, or undefined when the engine could not be reached. */
  status?: number;
  message: string;
}

/**
 * Asks the engine at `origin` to drop its prefix cache (vLLM's `POST /reset_prefix_cache`). vLLM
 * serves the endpoint only when started with VLLM_SERVER_DEV_MODE=1 and answers 404 otherwise:
 * that is reported as such, not as an error of this tool.
 */
export async function resetPrefixCache(origin: string, timeoutMs = 10_000): Promise<PrefixCacheReset> {
  const url = `${origin.replace(/\/+$/, "")}/reset_prefix_cache`;
  try {
    const res = await request(url, { method: "POST", headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    const body = (await res.body.text()).trim().slice(0, 200);
    if (res.statusCode >= 200 && res.statusCode < 300)
      return { url, ok: true, status: res.statusCode, message: "prefix cache reset" };
    const hint =
      res.statusCode === 404 || res.statusCode === 405
        ? "refused: vLLM serves /reset_prefix_cache only when started with VLLM_SERVER_DEV_MODE=1"
        : `refused: HTTP ${res.statusCode}${body ? ` ${body}` : ""}`;
    return { url, ok: false, status: res.statusCode, message: hint };
  } catch (err) {
    return { url, ok: false, message: `unreachable: ${(err as Error).message}` };
  }
}

/** The server origin (scheme://host:port) of a URL. */
export const originOf = (url: string): string => new URL(url).origin;
