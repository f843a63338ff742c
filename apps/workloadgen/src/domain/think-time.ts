import type { Rng } from "@symphony/common";
import { standardNormal } from "./distributions";

/** How fast one simulated user reads responses and types prompts, in characters per second. */
export interface UserSpeeds {
  readCharsPerSec: number;
  typeCharsPerSec: number;
}

export interface ThinkTimeOptions {
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
   * Wait before a turn, in microseconds of user time (the run loop applies `--time-scale`):
   * `previousResponseChars / read + nextPromptChars / type`. Pass 0 response chars for a first turn.
   */
  delayUs(speeds: UserSpeeds, previousResponseChars: number, nextPromptChars: number): number {
    const seconds = previousResponseChars / speeds.readCharsPerSec + nextPromptChars / speeds.typeCharsPerSec;
    return Math.round(seconds * 1e6);
  }
}
