/** The package entry (`@symphony/node-scheduler`): the transport-free domain and the options, for simulations. */
export * from "./domain";
export {
  nodeSchedulerOptions,
  PREFETCH_MODES,
  type NodeSchedulerOptions,
  type PrefetchMode,
} from "./options";
