import * as grpc from "@grpc/grpc-js";
import { grpcClientOptions, HealthClient, NodeSchedulerServiceClient } from "@symphony/runtime";

/**
 * Channel options for node calls: the stack's defaults, with grpc-js's transparent retries off.
 * The relay re-places a failed turn itself (on another node), and grpc-js's retry layer buffers
 * every message of every call in case of a retry, which costs CPU on the hot path.
 */
const nodeChannelOptions: grpc.ClientOptions = { ...grpcClientOptions, "grpc.enable_retries": 0 };

/** One lazily created gRPC channel per node address, shared by relays, polls and hints. */
export class NodeClients {
  private readonly clients = new Map<string, { node: NodeSchedulerServiceClient; health: HealthClient }>();

  /** `credentials`: plaintext by default; TLS when nodes serve it (see --node-tls-ca). */
  constructor(private readonly credentials = grpc.credentials.createInsecure()) {}

  private entry(address: string) {
    let e = this.clients.get(address);
    if (!e) {
      const credentials = this.credentials;
      const node = new NodeSchedulerServiceClient(address, credentials, nodeChannelOptions);
      // Same options and address -> grpc-js shares the subchannel between the two clients.
      const health = new HealthClient(address, credentials, nodeChannelOptions);
      e = { node, health };
      this.clients.set(address, e);
    }
    return e;
  }

  node(address: string): NodeSchedulerServiceClient {
    return this.entry(address).node;
  }

  /** The node's channel, for calls made below the generated client (see NodeSubmitCall). */
  channel(address: string): grpc.ChannelInterface {
    return this.entry(address).node.getChannel();
  }

  health(address: string): HealthClient {
    return this.entry(address).health;
  }

  closeAll(): void {
    for (const e of this.clients.values()) {
      e.node.close();
      e.health.close();
    }
    this.clients.clear();
  }
}

/** A gRPC status code's name ("UNAVAILABLE"), as TurnError.code carries it. */
export function statusName(code: number): string {
  return grpc.status[code] ?? `CODE_${code}`;
}

/** Deadline `ms` from now. */
export function deadlineIn(ms: number): Date {
  return new Date(Date.now() + ms);
}
