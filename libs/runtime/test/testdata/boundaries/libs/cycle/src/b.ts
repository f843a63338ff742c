import type { a } from "./a";

export const b = (): number => 0;
export type A = typeof a;
