import { createLogger } from "@symphony/common";
createLogger("experiments").info("not yet built");
