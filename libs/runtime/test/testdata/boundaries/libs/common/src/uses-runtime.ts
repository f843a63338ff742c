// Violation (common-stays-pure): the core importing the runtime (and, through it, wire code).
import { WIRE_VERSION } from "../../runtime/src/index";

export const version = WIRE_VERSION;
