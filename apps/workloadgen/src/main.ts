import { createLogger } from "@symphony/common";
createLogger("workloadgen").info("not yet built");
