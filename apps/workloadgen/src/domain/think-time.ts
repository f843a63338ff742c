import type { Rng } from "@symphony/common";
import { standardNormal } from "./distributions";

/** How fast one simulated user reads responses and types prompts, in characters per second. */
export interface UserSpeeds {
  readCharsPerSec: number;
  typeCharsPerSec: number;
}

/**
 * Which model sets the wait before a chat turn:
 * - `typing`: the user reads the previous reply and types the next prompt (`--read-speed`,
 *   `--type-speed`): the wait follows the texts.
 * - `chat-gaps`: the wait is drawn from measured gaps between turns of a chatbot trace
 *   (p50 7.2 s, p90 15 s, p99 43 s; see `CHAT_GAPS`), independent of the texts.
 */
export type ThinkTimeKind = "typing" | "chat-gaps";

/** A mixture of two LogNormals (weights 1 − w and w), parameterized by median and log-σ. */
export interface LogNormalMixture {
  readonly bodyMedianS: number;
  readonly bodySigma: number;
  /** Weight of the tail component, 0..1. */
  readonly tailWeight: number;
  readonly tailMedianS: number;
  readonly tailSigma: number;
}

/**
 * Gaps between a reply and the user's next turn, fitted to the quantiles a published chatbot
 * trace reports (p50 7.2 s, p90 15 s, p99 43 s). One LogNormal cannot hold both the body and
 * that tail (σ from p90 is 0.57, from p99 0.77; a single LogNormal through p50 and p90 puts p99
 * at 27 s), so a 92/8 mixture of two LogNormals with the same σ: a "reply at once" body and a
 * "came back later" tail. Least squares on log quantiles over a grid; mixture quantiles are
 * 7.21 / 14.85 / 42.78 s (+0.1 %, −1.0 %, −0.5 %; `think-time.test.ts` checks them), mean 9.2 s.
 */
export const CHAT_GAPS: LogNormalMixture = {
  bodyMedianS: 6.9,
  bodySigma: 0.4,
  tailWeight: 0.08,
  tailMedianS: 27,
  tailSigma: 0.4,
};

/** One draw from `m`, seconds (two uniforms and one normal per draw). */
export function sampleMixtureS(m: LogNormalMixture, rng: Rng): number {
  const tail = rng.next() < m.tailWeight;
  const z = standardNormal(rng);
  return tail ? m.tailMedianS * Math.exp(m.tailSigma * z) : m.bodyMedianS * Math.exp(m.bodySigma * z);
}

export interface ThinkTimeOptions {
  /** The model (default `typing`); `chat-gaps` ignores the speeds. */
  kind?: ThinkTimeKind;
  /** Mean reading speed, chars/s (> 0). */
  readCharsPerSec: number;
  /** Mean typing speed, chars/s (> 0). */
  typeCharsPerSec: number;
  /**
   * Per-user spread of both speeds: each user's speed is the mean times a LogNormal factor with
   * mean 1 and this standard deviation (0 = every user is average).
   */
  speedJitter: number;
}

/**
 * Closed-loop user behaviour: before each turn a user reads the previous response and then
 * types the next prompt. The first turn has nothing to read, so it waits typing time only.
 */
export class ThinkTimeModel {
  constructor(private readonly options: ThinkTimeOptions) {}

  /** A user's own speeds (seeded; identical to the means when `speedJitter` is 0). */
  userSpeeds(rng: Rng): UserSpeeds {
    const { readCharsPerSec, typeCharsPerSec, speedJitter } = this.options;
    if (speedJitter <= 0) return { readCharsPerSec, typeCharsPerSec };
    const sigma2 = Math.log(1 + speedJitter * speedJitter);
    const factor = () => Math.exp(-sigma2 / 2 + Math.sqrt(sigma2) * standardNormal(rng));
    return { readCharsPerSec: readCharsPerSec * factor(), typeCharsPerSec: typeCharsPerSec * factor() };
  }

  /**
   * A wait drawn when the session is planned (`chat-gaps`: each turn's `delayUs`), or undefined
   * when the wait follows the texts the run sees (`typing`: `delayUs` below, at run time).
   */
  plannedDelayUs(rng: Rng): number | undefined {
    if (this.options.kind !== "chat-gaps") return undefined;
    return Math.round(sampleMixtureS(CHAT_GAPS, rng) * 1e6);
  }

  /**
   * Wait before a turn, in microseconds of user time (the run loop applies `--time-scale`):
   * `previousResponseChars / read + nextPromptChars / type`. Pass 0 response chars for a first turn.
   */
  delayUs(speeds: UserSpeeds, previousResponseChars: number, nextPromptChars: number): number {
    const seconds = previousResponseChars / speeds.readCharsPerSec + nextPromptChars / speeds.typeCharsPerSec;
    return Math.round(seconds * 1e6);
  }
}
