// The barrel must not load zeromq: the ZMQ classes load it lazily in their async `open`, so app
// bundles mark it external (`--external:zeromq`) and run without node_modules when events are off.
export * from "./types";
export { encodeEventBatch, decodeEventBatch, hashKey, KvEventsDecodeError } from "./codec";
export {
  parseKvEventsConfig,
  publisherBinds,
  isZmqUrl,
  KvEventsConfigError,
  DEFAULT_KV_EVENTS_ENDPOINT,
  type KvEventsConfig,
} from "./config";
export { KvResidencyIndex, chainKey, type ResidencyLookup, type ResidencyStats } from "./residency-index";
export { SequenceTracker, type TrackerAction, type SequenceTrackerOptions } from "./sequence-tracker";
export { ZmqEventPublisher, type PublisherOptions } from "./zmq-publisher";
export { ZmqEventSubscriber, type SubscriberOptions, type SubscriberStats } from "./zmq-subscriber";
