// Clean: another package through its declared entry points.
import { now } from "../../alpha/src/domain/index";

export const later = (): number => now() + 1;
