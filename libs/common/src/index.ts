// The pure core shared by every package, domain code included: time (Timers), seeded randomness,
// tokenizers and chat formats, config-file parsing and the UsageError of bad input. Nothing here
// loads gRPC, HTTP servers, logging or generated wire code (that is @symphony/runtime).
export * from "./usage-error";
export * from "./config-file";
export * from "./tokenizer";
export * from "./chat-format";
export * from "./rng";
export * from "./typed-slab";
export * from "./timers";
export * from "./options";
export * from "./auth-env";
export * from "./openai-stream";
export * from "./sse-lines";
export * from "./slot-map";
