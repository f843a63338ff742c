/** The package entry (`@symphony/scheduler`): the transport-free domain, for simulations. */
export * from "./domain";
