// Stands in for generated wire code.
export const WIRE_VERSION = 1;
