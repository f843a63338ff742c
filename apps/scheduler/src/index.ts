/** The package entry (`@symphony/scheduler`): the transport-free domain, for simulations. */
export * from "./domain";
export { schedulerOptions, type SchedulerOptions } from "./options";
