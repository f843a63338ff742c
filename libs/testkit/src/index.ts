export * from "./spawn-service";
export * from "./local-stack";
export * from "./services";
