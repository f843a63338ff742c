// Package entry (`@symphony/mock-vllm`): the engine without HTTP, for simulations.
// See src/domain/index.ts for the API and README "Using the engine without HTTP".
export * from "./domain";
export { mockVllmOptions, type MockVllmOptions } from "./options";
