import * as grpc from "@grpc/grpc-js";
import { NODE_SUBMIT_PATH } from "./raw-relay-codec";

/** What a relayed node call reports back. */
export interface NodeSubmitListener {
  /** One event, as the node serialized it. The next one comes only after `readNext()`. */
  onEvent(bytes: Buffer): void;
  /** The call ended: OK after the last event, or an error status (never both, exactly once). */
  onStatus(code: grpc.status, details: string): void;
}

/** A relayed node call as the relay drives it (NodeSubmitCall, or NodeH2Submit on plaintext). */
export interface NodeSubmit {
  /** Asks for the next event (call once per delivered event, when ready for more). */
  readNext(): void;
  /** Cancels the call; no more events or status are delivered. */
  cancel(details: string): void;
}

type ChannelCall = ReturnType<grpc.ChannelInterface["createCall"]>;

/**
 * One Submit to a node, made on the node's channel directly instead of through the generated
 * client. The client layer wraps every call in an object-mode Readable, runs the interceptor
 * machinery and captures a stack trace (`new Error()`) for error reporting; at one call per
 * relayed turn that was a measurable share of the scheduler's CPU. Here events arrive as bytes,
 * one per `readNext()`, which is also the relay's back-pressure: it simply does not ask for the
 * next event while the client's buffer is full.
 */
export class NodeSubmitCall implements NodeSubmit {
  private readonly call: ChannelCall;
  private ended = false;

  /**
   * Starts the call and asks for the first event.
   * @param deadlineEpochMs absolute deadline, ms since the epoch (Date.now() scale)
   */
  constructor(
    channel: grpc.ChannelInterface,
    request: Buffer,
    deadlineEpochMs: number,
    private readonly listener: NodeSubmitListener,
  ) {
    this.call = channel.createCall(NODE_SUBMIT_PATH, deadlineEpochMs, undefined, null, undefined);
    this.call.start(new grpc.Metadata(), {
      onReceiveMetadata: () => {},
      onReceiveMessage: (bytes: Buffer) => {
        if (!this.ended) this.listener.onEvent(bytes);
      },
      onReceiveStatus: (status) => {
        if (this.ended) return;
        this.ended = true;
        this.listener.onStatus(status.code, status.details);
      },
    });
    this.call.sendMessageWithContext({}, request);
    this.call.halfClose();
    this.call.startRead();
  }

  /** Asks for the next event (call once per delivered event, when ready for more). */
  readNext(): void {
    if (!this.ended) this.call.startRead();
  }

  /** Cancels the call; no more events or status are delivered. */
  cancel(details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.call.cancelWithStatus(grpc.status.CANCELLED, details);
  }
}
