// The service runtime: the generated wire types, gRPC server and credentials, logging, the
// metrics endpoint, CLI and shutdown handling. Domain code never imports this package; the pure
// core (time, randomness, tokenizers, config files) is @symphony/common.
export * from "./proto";
export * from "./logging";
export * from "./grpc-server";
export * from "./metrics-server";
export * from "./cli";
export * from "./shutdown";
export * from "./auth";
export * from "./listen-errors";
export * from "./inference-request";
export * from "./request-limits";
