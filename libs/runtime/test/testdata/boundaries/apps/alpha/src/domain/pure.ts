// Clean: the pure core through its entry point.
import { clock } from "../../../../libs/common/src/index";

export const now = (): number => clock();
