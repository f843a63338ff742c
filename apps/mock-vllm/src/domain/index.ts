/**
 * The mock engine without HTTP, for driving it directly (e.g. in a virtual-time cluster
 * simulation):
 *
 * ```ts
 * const profile = PROFILES["llama3-8b-h100"]!;
 * const engine = new EngineCore(
 *   { maxNumSeqs: 256, maxNumBatchedTokens: 8192, numGpuBlocks: deriveNumGpuBlocks(profile, 16, 0.9),
 *     blockSize: 16, enablePrefixCaching: true, timeScale: 1 },
 *   new StepTimeModel(coefficientsFor(profile)),
 *   new VirtualTimers(),
 * );
 * engine.submit({ id: "r1", promptTokenIds, outputTokenIds, finishReason: "stop" }, {
 *   onToken: (index, tokenId) => {},
 *   onFinish: (summary) => {}, // summary.cachedTokens, completionTokens, firstTokenUs, ...
 * });
 * timers.runAll();
 * ```
 */
export * from "./profiles";
export * from "./step-time-model";
export * from "./kv-cache";
export * from "./kv-events";
export * from "./cpu-offload";
export * from "./engine-core";
export * from "./tokens";
export * from "./chat-template";
export * from "./output-planner";
export * from "./faults";
