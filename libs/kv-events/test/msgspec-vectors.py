"""Prints the msgspec test vectors that src/codec.test.ts holds as hex literals.

The structs are vLLM's (vllm/distributed/kv_events.py): EventBatch is array_like; the event
structs are tagged (tag field "type") and either array_like (older vLLM, llm-d's Go indexer) or
maps (newer vLLM). Run with msgspec 0.22 (not a project dependency):
    python3 -m venv /tmp/v && /tmp/v/bin/pip install msgspec==0.22.0 && /tmp/v/bin/python test/msgspec-vectors.py
"""
from typing import Any

import msgspec


def vllm_structs(events_array_like: bool, newer_fields: bool):
    class EventBatch(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
        ts: float
        events: list[Any]
        data_parallel_rank: int | None = None

    class KVCacheEvent(msgspec.Struct, array_like=events_array_like, omit_defaults=True, gc=False, tag=True):
        pass

    if newer_fields:
        class BlockStored(KVCacheEvent):
            block_hashes: list[int | bytes]
            parent_block_hash: int | bytes | None
            token_ids: list[int]
            block_size: int
            lora_id: int | None
            medium: str | None
            lora_name: str | None
            extra_keys: list | None = None
            group_idx: int | None = None

        class BlockRemoved(KVCacheEvent):
            block_hashes: list[int | bytes]
            medium: str | None
            group_idx: int | None = None
    else:
        class BlockStored(KVCacheEvent):
            block_hashes: list[int | bytes]
            parent_block_hash: int | bytes | None
            token_ids: list[int]
            block_size: int
            lora_id: int | None
            medium: str | None
            lora_name: str | None

        class BlockRemoved(KVCacheEvent):
            block_hashes: list[int | bytes]
            medium: str | None

    class AllBlocksCleared(KVCacheEvent):
        pass

    class KVEventBatch(EventBatch):
        events: list[BlockStored | BlockRemoved | AllBlocksCleared]

    return KVEventBatch, BlockStored, BlockRemoved, AllBlocksCleared


def batch(events_array_like: bool, newer_fields: bool, rank):
    B, S, R, C = vllm_structs(events_array_like, newer_fields)
    extra = {"group_idx": 1} if newer_fields else {}
    return B(
        ts=1757500000.25,
        events=[
            S(block_hashes=[0xFEDCBA9876543210, b"\xde\xad\xbe\xef"], parent_block_hash=None,
              token_ids=[1, 255, 256, 65536], block_size=2, lora_id=None, medium="CPU", lora_name=None),
            S(block_hashes=[42], parent_block_hash=b"\xde\xad\xbe\xef", token_ids=[5, 6], block_size=2,
              lora_id=7, medium="GPU", lora_name="ad", **extra),
            R(block_hashes=[42], medium=None),
            C(),
        ],
        data_parallel_rank=rank,
    )


enc = msgspec.msgpack.Encoder()
for name, args in {
    "ARRAY_LIKE_RANK_0": (True, False, 0),
    "TAGGED_MAP_RANK_NONE": (False, False, None),
    "ARRAY_LIKE_NEWER_FIELDS": (True, True, 3),
    "TAGGED_MAP_NEWER_FIELDS": (False, True, 3),
}.items():
    print(f'{name}: "{enc.encode(batch(*args)).hex()}",')
