// Violation (common-stays-pure): a metrics registry in the pure core.
import "prom-client";
