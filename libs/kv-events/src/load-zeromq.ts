/**
 * zeromq is a native addon: load it only when a ZMQ class opens, so importing this package (and
 * bundling it with `--external:zeromq`) costs nothing where events are off.
 */
export type Zeromq = typeof import("zeromq");

let loading: Promise<Zeromq> | null = null;

export function loadZeromq(): Promise<Zeromq> {
  // A dynamic import stays a run-time import in esbuild's CJS output for node targets and works
  // under vitest's ESM too (a bare `require` does not exist there). Node exposes a CJS module's
  // exports as `default` and, where it can detect them, as named exports: take whichever has them.
  loading ??= import("zeromq").then((m) => {
    const mod = m as Zeromq & { default?: Zeromq };
    return typeof mod.Publisher === "function" ? mod : (mod.default as Zeromq);
  });
  return loading;
}

/** 8-byte big-endian sequence number frame (vLLM: `seq.to_bytes(8, "big")`). */
export function seqFrame(seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(BigInt(seq));
  return b;
}

/** The replay end marker: int64 -1, 8 bytes big-endian signed. */
export const END_SEQ_FRAME: Buffer = seqFrame(-1);

/** Reads an 8-byte big-endian signed sequence frame, or null when it is not 8 bytes. */
export function readSeqFrame(frame: Uint8Array): number | null {
  if (frame.length !== 8) return null;
  return Number(Buffer.from(frame.buffer, frame.byteOffset, 8).readBigInt64BE(0));
}
