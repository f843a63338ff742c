// Violation (no-unresolvable-import): a path the scheduler's package.json exports do not offer.
import "@symphony/scheduler/src/domain/router";
