// Violation (no-deep-package-import): a file that alpha's package.json does not export.
import { internal } from "../../alpha/src/internal";

export const copy = internal;
