import { createLogger } from "@symphony/common";
createLogger("mock-vllm").info("not yet built");
