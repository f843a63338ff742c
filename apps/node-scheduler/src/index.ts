/** The package entry (`@symphony/node-scheduler`): the transport-free domain, for simulations. */
export * from "./domain";
