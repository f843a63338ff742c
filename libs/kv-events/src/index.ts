// @symphony/kv-events: vLLM's KV-cache events (vllm/distributed/kv_events.py) for both ends of the
// wire. Being filled in; see README.md.
export {};
