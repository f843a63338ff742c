import type { Logger } from "@symphony/runtime";
import type { Registry } from "prom-client";
import type { Config } from "../config";
import type { ChatTemplate, EngineCore, FaultInjector, OutputPlanner, TokenCache } from "../domain";

/** What the HTTP server and its routes are built from (a module of its own: the routes import it). */
export interface HttpServerDeps {
  readonly config: Config;
  readonly engine: EngineCore;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly tokens: TokenCache;
  readonly template: ChatTemplate;
  readonly planner: OutputPlanner;
  readonly faults: FaultInjector;
  /** Wall-clock seconds for `created` fields (injectable for tests). */
  readonly nowSeconds?: () => number;
}
