// Violation (domain-stays-pure): an HTTP server module in the domain.
import "node:http";
