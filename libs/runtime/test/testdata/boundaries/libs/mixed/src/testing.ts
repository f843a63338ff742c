// A test factory, exported for tests only.
import { tick } from "./clock";

export const fakeNow = (): number => tick() + 0;
