export * from "./clock";
export * from "./log";
