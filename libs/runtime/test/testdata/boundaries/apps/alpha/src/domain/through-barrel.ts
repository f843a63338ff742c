// Violation (domain-stays-pure): only a clock is wanted, but the barrel also loads winston.
import { tick } from "../../../../libs/mixed/src/index";

export const next = (): number => tick();
