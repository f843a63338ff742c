import { SingleBar } from "cli-progress";
import type { Logger } from "@symphony/runtime";

export interface ProgressSnapshot {
  elapsedS: number;
  sent: number;
  completed: number;
  failed: number;
  inFlight: number;
  activeSessions: number;
  /** Completed requests per second so far. */
  rate: number;
  /** Median TTFT so far (approximate), ms; NaN before the first token. */
  ttftP50Ms: number;
}

/**
 * Progress while running: a cli-progress bar on stderr when it is a TTY (time-based when a
 * duration is set, else request-based), otherwise a JSON "progress" log line every interval.
 */
export class Progress {
  private bar?: SingleBar;
  private lastLogS = 0;

  constructor(
    private readonly logger: Logger,
    private readonly durationS: number,
    private readonly maxRequests: number,
    private readonly intervalS: number,
    private readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  private total(): number {
    return Number.isFinite(this.durationS)
      ? Math.ceil(this.durationS)
      : Number.isFinite(this.maxRequests)
        ? this.maxRequests
        : 0;
  }

  start(): void {
    if (!this.tty) return;
    this.bar = new SingleBar({
      format:
        " {bar} {percentage}% | {elapsed}s | {rate} req/s | sent {sent} ok {completed} errors {failed} | in-flight {inFlight} | p50 TTFT {ttft} ms",
      stream: process.stderr,
      hideCursor: true,
    });
    this.bar.start(this.total(), 0, {
      sent: 0,
      completed: 0,
      failed: 0,
      inFlight: 0,
      elapsed: 0,
      rate: "0.0",
      ttft: "-",
    });
  }

  update(s: ProgressSnapshot): void {
    if (this.bar) {
      const value = Number.isFinite(this.durationS) ? Math.min(this.total(), Math.floor(s.elapsedS)) : s.sent;
      this.bar.update(value, {
        ...s,
        elapsed: s.elapsedS.toFixed(0),
        rate: s.rate.toFixed(1),
        ttft: Number.isFinite(s.ttftP50Ms) ? s.ttftP50Ms.toFixed(0) : "-",
      });
      return;
    }
    if (s.elapsedS - this.lastLogS >= this.intervalS) {
      this.lastLogS = s.elapsedS;
      this.logger.info("progress", {
        ...s,
        elapsedS: Number(s.elapsedS.toFixed(1)),
        rate: Number(s.rate.toFixed(2)),
        ttftP50Ms: Number.isFinite(s.ttftP50Ms) ? Number(s.ttftP50Ms.toFixed(1)) : null,
      });
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
