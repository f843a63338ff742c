import { SingleBar } from "cli-progress";
import type { Logger } from "@symphony/common";

export interface ProgressSnapshot {
  elapsedS: number;
  sent: number;
  completed: number;
  failed: number;
  inFlight: number;
  activeSessions: number;
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
        " {bar} {percentage}% | {elapsed}s | sent {sent} ok {completed} failed {failed} in-flight {inFlight}",
      stream: process.stderr,
      hideCursor: true,
    });
    this.bar.start(this.total(), 0, { sent: 0, completed: 0, failed: 0, inFlight: 0, elapsed: 0 });
  }

  update(s: ProgressSnapshot): void {
    if (this.bar) {
      const value = Number.isFinite(this.durationS) ? Math.min(this.total(), Math.floor(s.elapsedS)) : s.sent;
      this.bar.update(value, { ...s, elapsed: s.elapsedS.toFixed(0) });
      return;
    }
    if (s.elapsedS - this.lastLogS >= this.intervalS) {
      this.lastLogS = s.elapsedS;
      this.logger.info("progress", { ...s, elapsedS: Number(s.elapsedS.toFixed(1)) });
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}
