/**
 * Token accounting of one KV-cache tier ("gpu" or "cpu"). Tokens are the unit because the
 * engine allocates KV per token; bytes are derived with `bytesPerToken`.
 *
 * Invariant: 0 <= usedTokens. `usedTokens <= budgetTokens` holds for everything reserved with
 * `tryReserve`; `forceReserve` may overshoot (when the engine reports more tokens than we
 * estimated) and the node then makes room before admitting more work.
 */
export class KvBudget {
  private used = 0;

  constructor(
    readonly name: "gpu" | "cpu",
    private budget: number,
    readonly bytesPerToken: number,
  ) {}

  get budgetTokens(): number {
    return this.budget;
  }

  /** Sets a new budget (e.g. the engine's real capacity, once known); what is held stays held. */
  resize(budgetTokens: number): void {
    this.budget = budgetTokens;
  }

  get usedTokens(): number {
    return this.used;
  }

  /** Tokens that can still be reserved (never negative). */
  get freeTokens(): number {
    return Math.max(0, this.budgetTokens - this.used);
  }

  get usedBytes(): number {
    return this.used * this.bytesPerToken;
  }

  get budgetBytes(): number {
    return this.budgetTokens * this.bytesPerToken;
  }

  fits(tokens: number): boolean {
    return tokens <= this.freeTokens;
  }

  /** Reserves `tokens` if they fit; returns whether it did. */
  tryReserve(tokens: number): boolean {
    if (!this.fits(tokens)) return false;
    this.used += tokens;
    return true;
  }

  /** Reserves even past the budget (accounting for what the engine already holds). */
  forceReserve(tokens: number): void {
    this.used += tokens;
  }

  release(tokens: number): void {
    this.used = Math.max(0, this.used - tokens);
  }
}

/**
 * Time to move KV between GPU and host memory: bytes / bandwidth. One copy engine per
 * direction, so transfers in the same direction queue behind each other (`schedule`).
 */
export class TransferModel {
  private readonly busyUntilUs = { toCpu: 0, toGpu: 0 };

  /**
   * @param bytesPerToken KV bytes per token (e.g. 131072 for Llama-3-8B fp16).
   * @param gigabytesPerSecond link bandwidth in GB/s (1e9 bytes per second), > 0.
   */
  constructor(
    readonly bytesPerToken: number,
    readonly gigabytesPerSecond: number,
  ) {}

  /** Duration of copying `tokens` of KV one way, in µs (at least 1 for a non-empty copy). */
  durationUs(tokens: number): number {
    if (tokens <= 0) return 0;
    const bytes = tokens * this.bytesPerToken;
    return Math.max(1, Math.ceil((bytes / (this.gigabytesPerSecond * 1e9)) * 1e6));
  }

  /** Books a copy starting no earlier than `nowUs` on the direction's link; returns its end time. */
  schedule(direction: "toCpu" | "toGpu", tokens: number, nowUs: number): number {
    const start = Math.max(nowUs, this.busyUntilUs[direction]);
    const end = start + this.durationUs(tokens);
    this.busyUntilUs[direction] = end;
    return end;
  }
}
