import * as grpc from "@grpc/grpc-js";
import { grpcClientOptions, HealthClient, NodeSchedulerServiceClient } from "@symphony/runtime";
import { isPlainHostPort, NodeH2Sessions, NodeH2Submit } from "./node-h2-submit";
import { NodeSubmitCall, type NodeSubmit, type NodeSubmitListener } from "./node-submit-call";

/**
 * Channel options for node calls: the stack's defaults, with grpc-js's transparent retries off.
 * The relay re-places a failed turn itself (on another node), and grpc-js's retry layer buffers
 * every message of every call in case of a retry, which costs CPU on the hot path.
 */
const nodeChannelOptions: grpc.ClientOptions = { ...grpcClientOptions, "grpc.enable_retries": 0 };

/** One lazily created gRPC channel per node address, shared by relays, polls and hints. */
export class NodeClients {
  private readonly clients = new Map<string, { node: NodeSchedulerServiceClient; health: HealthClient }>();

  /** Plaintext connections for relayed Submits (undefined with TLS: those go through grpc-js). */
  private readonly h2: NodeH2Sessions | undefined;

  /** `credentials`: plaintext when undefined; TLS when nodes serve it (see --node-tls-ca). */
  constructor(credentials?: grpc.ChannelCredentials) {
    this.credentials = credentials ?? grpc.credentials.createInsecure();
    this.h2 = credentials === undefined ? new NodeH2Sessions() : undefined;
  }

  private readonly credentials: grpc.ChannelCredentials;

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

  /**
   * Starts a relayed Submit (`request`: the client's bytes) to the node at `address`: a bare
   * HTTP/2 stream on plaintext (see NodeH2Submit), a channel-level grpc-js call with TLS.
   */
  submit(
    address: string,
    request: Buffer,
    deadlineEpochMs: number,
    listener: NodeSubmitListener,
  ): NodeSubmit {
    if (this.h2 && isPlainHostPort(address))
      return new NodeH2Submit(this.h2, address, request, deadlineEpochMs, listener);
    return new NodeSubmitCall(this.channel(address), request, deadlineEpochMs, listener);
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
    this.h2?.closeAll();
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
