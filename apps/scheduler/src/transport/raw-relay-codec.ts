import * as grpc from "@grpc/grpc-js";
import {
  InferenceEvent,
  InferenceRequest,
  NodeSchedulerServiceService,
  SchedulerServiceService,
} from "@symphony/runtime";

/**
 * The relay forwards bytes, not objects. A Submit's request is decoded once (to validate and
 * route it) but forwarded to the node as the bytes the client sent, and the node's events are
 * forwarded to the client as the bytes the node sent; only the events the scheduler must read
 * (Finished, TurnError) are decoded. Decoding and re-encoding the whole conversation each turn
 * and every token event was a large share of the relay's CPU, and grows with the conversation.
 */

/** The bytes each decoded Submit request arrived as (weak: gone with the request object). */
const rawRequests = new WeakMap<InferenceRequest, Buffer>();

/** The serialized form of `req`: the bytes it arrived as, or a fresh encoding. */
export function requestBytes(req: InferenceRequest): Buffer {
  return rawRequests.get(req) ?? Buffer.from(InferenceRequest.encode(req).finish());
}

/** What the relay writes to the client: a node's event as received (bytes) or one it made itself. */
export type RelayedEvent = InferenceEvent | Buffer;

/**
 * The SchedulerService definition with Submit's codec swapped: requests remember their bytes,
 * and events that are already bytes are sent unchanged. The other methods are untouched.
 */
export const schedulerServiceDefinition = {
  ...SchedulerServiceService,
  submit: {
    ...SchedulerServiceService.submit,
    requestDeserialize: (bytes: Buffer): InferenceRequest => {
      const req = InferenceRequest.decode(bytes);
      rawRequests.set(req, bytes);
      return req;
    },
    responseSerialize: (ev: RelayedEvent): Buffer =>
      Buffer.isBuffer(ev) ? ev : Buffer.from(InferenceEvent.encode(ev).finish()),
  },
} as const satisfies grpc.ServiceDefinition;

/** Path of the node's Submit method (called at the channel level, see NodeSubmitCall). */
export const NODE_SUBMIT_PATH = NodeSchedulerServiceService.submit.path;

/** Wire tags of InferenceEvent's oneof fields (field number << 3 | length-delimited). */
const TAG_STARTED = (1 << 3) | 2;
const TAG_TOKEN = (2 << 3) | 2;

/** Whether the node's event is Started (read from its first byte, without decoding). */
export function isStartedEvent(bytes: Buffer): boolean {
  return bytes[0] === TAG_STARTED;
}

/**
 * The event if the relay must read it (Finished, TurnError or anything unexpected), undefined
 * for Started and Token, which pass through unread. An InferenceEvent holds exactly one oneof
 * field, so its first byte is that field's tag.
 */
export function eventToInspect(bytes: Buffer): InferenceEvent | undefined {
  const tag = bytes[0];
  if (tag === TAG_TOKEN || tag === TAG_STARTED) return undefined;
  return InferenceEvent.decode(bytes);
}
