// Violation (domain-stays-pure): gRPC in the domain.
import "@grpc/grpc-js";
