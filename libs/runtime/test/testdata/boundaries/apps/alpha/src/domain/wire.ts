// Violation (domain-stays-pure): generated wire code, reached through the runtime's entry point.
import { WIRE_VERSION } from "../../../../libs/runtime/src/index";

export const version = WIRE_VERSION;
