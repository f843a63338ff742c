import { createLogger } from "@symphony/common";
createLogger("node-scheduler").info("not yet built");
