import { createLogger } from "@symphony/common";
createLogger("scheduler").info("not yet built");
