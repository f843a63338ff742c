// Clean: a domain barrel over pure modules.
export * from "./pure";
