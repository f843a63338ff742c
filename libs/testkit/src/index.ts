export * from "./spawn-service";
