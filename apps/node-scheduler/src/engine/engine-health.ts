/** What the monitor reports when the engine's health changes. */
export interface EngineHealthChange {
  readonly healthy: boolean;
  /** Why (the last probe's failure), "" when healthy. */
  readonly reason: string;
}

export interface EngineHealthOptions {
  /** The engine's health URL (vLLM: `GET <origin>/health`, 200 while the engine runs). */
  readonly url: string;
  /** Time between probes, ms (> 0). */
  readonly intervalMs: number;
  /** A probe with no answer by then fails, ms. */
  readonly timeoutMs: number;
  /** Probes failing in a row before the engine counts as unhealthy (>= 1). */
  readonly failuresToUnhealthy: number;
  readonly onChange: (change: EngineHealthChange) => void;
  /** One probe: "" = healthy, else why not. Default: GET `url` (below). */
  readonly probe?: (url: string, timeoutMs: number) => Promise<string>;
}

/**
 * One GET of the engine's health URL: healthy when it answers below 500 (vLLM's /health is 200
 * while its engine runs and 500 once the engine died; a server without /health answers 404,
 * which still proves it is up), unhealthy when it answers 5xx, refuses, resets or times out.
 */
export async function probeEngineHealth(url: string, timeoutMs: number): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => undefined);
    return res.status < 500 ? "" : `GET ${url}: HTTP ${res.status}`;
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string }; message?: string };
    if (e.name === "TimeoutError") return `GET ${url}: no answer within ${timeoutMs} ms`;
    return `GET ${url}: ${e.cause?.code ?? e.message ?? String(err)}`;
  }
}

/**
 * Watches the engine behind this node: a probe every `intervalMs`; after `failuresToUnhealthy`
 * failures in a row the engine is unhealthy (the node then reports NOT_SERVING and draining, so
 * schedulers stop sending it turns), and the first successful probe makes it healthy again.
 * Starts healthy (the node's own startup does not wait for the engine). One probe at a time.
 */
export class EngineHealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private healthyNow = true;
  private lastReason = "";

  constructor(private readonly options: EngineHealthOptions) {
    if (options.intervalMs <= 0 || options.failuresToUnhealthy < 1)
      throw new Error("EngineHealthMonitor: intervalMs must be > 0 and failuresToUnhealthy >= 1");
  }

  get healthy(): boolean {
    return this.healthyNow;
  }

  /** Why the engine is unhealthy ("" while healthy). */
  get reason(): string {
    return this.healthyNow ? "" : this.lastReason;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    const probe = this.options.probe ?? probeEngineHealth;
    const why = await probe(this.options.url, this.options.timeoutMs).catch((err: unknown) => String(err));
    if (this.stopped) return;
    if (why === "") {
      this.failures = 0;
      if (!this.healthyNow) this.set(true, "");
    } else {
      this.failures++;
      this.lastReason = why;
      if (this.healthyNow && this.failures >= this.options.failuresToUnhealthy)
        this.set(false, `${this.failures} health checks failed in a row, last: ${why}`);
    }
    this.schedule(this.options.intervalMs);
  }

  private set(healthy: boolean, reason: string): void {
    this.healthyNow = healthy;
    this.lastReason = reason;
    this.options.onChange({ healthy, reason });
  }
}
