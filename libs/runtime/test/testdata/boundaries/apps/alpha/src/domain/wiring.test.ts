// Clean: tests beside the domain may wire real transports.
import "@grpc/grpc-js";
