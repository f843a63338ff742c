import { createLogger } from "@symphony/common";
createLogger("simulator").info("not yet built");
