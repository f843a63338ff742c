/**
 * A minimal msgpack writer that lays values out as msgspec does (smallest int and container
 * headers, floats always float64), so our bytes match a Python vLLM's byte for byte and `ts` stays a
 * float on the wire even when it happens to be whole.
 */
export class MsgpackWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** The bytes written so far (a copy-free view trimmed to the written length). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  float64(value: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(value, this.pos);
    this.pos += 8;
  }

  /** A safe integer in its smallest msgpack form. */
  int(value: number): void {
    if (!Number.isSafeInteger(value)) throw new TypeError(`msgpack int: ${value} is not a safe integer`);
    if (value >= 0) {
      if (value < 0x80) {
        this.ensure(1);
        this.buf[this.pos++] = value;
      } else if (value < 0x100) {
        this.ensure(2);
        this.buf[this.pos++] = 0xcc;
        this.buf[this.pos++] = value;
      } else if (value < 0x10000) {
        this.ensure(3);
        this.buf[this.pos++] = 0xcd;
        this.buf.writeUInt16BE(value, this.pos);
        this.pos += 2;
      } else if (value < 0x100000000) {
        this.ensure(5);
        this.buf[this.pos++] = 0xce;
        this.buf.writeUInt32BE(value, this.pos);
        this.pos += 4;
      } else {
        this.bigint(BigInt(value));
      }
    } else if (value >= -32) {
      this.ensure(1);
      this.buf[this.pos++] = value & 0xff;
    } else if (value >= -0x80) {
      this.ensure(2);
      this.buf[this.pos++] = 0xd0;
      this.buf.writeInt8(value, this.pos++);
    } else if (value >= -0x8000) {
      this.ensure(3);
      this.buf[this.pos++] = 0xd1;
      this.buf.writeInt16BE(value, this.pos);
      this.pos += 2;
    } else if (value >= -0x80000000) {
      this.ensure(5);
      this.buf[this.pos++] = 0xd2;
      this.buf.writeInt32BE(value, this.pos);
      this.pos += 4;
    } else {
      this.bigint(BigInt(value));
    }
  }

  /** An integer in [-2^63, 2^64): smallest form, uint64 above int64's range. */
  bigint(value: bigint): void {
    if (value >= -0x80000000n && value < 0x100000000n) {
      this.int(Number(value));
      return;
    }
    this.ensure(9);
    if (value > 0n) {
      if (value > 0xffffffffffffffffn) throw new RangeError(`msgpack int: ${value} exceeds uint64`);
      this.buf[this.pos++] = 0xcf;
      this.buf.writeBigUInt64BE(value, this.pos);
    } else {
      if (value < -0x8000000000000000n) throw new RangeError(`msgpack int: ${value} is below int64`);
      this.buf[this.pos++] = 0xd3;
      this.buf.writeBigInt64BE(value, this.pos);
    }
    this.pos += 8;
  }

  str(value: string): void {
    const len = Buffer.byteLength(value, "utf8");
    this.ensure(5 + len);
    if (len < 32) this.buf[this.pos++] = 0xa0 | len;
    else if (len < 0x100) {
      this.buf[this.pos++] = 0xd9;
      this.buf[this.pos++] = len;
    } else if (len < 0x10000) {
      this.buf[this.pos++] = 0xda;
      this.buf.writeUInt16BE(len, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdb;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
    this.pos += this.buf.write(value, this.pos, "utf8");
  }

  bin(value: Uint8Array): void {
    const len = value.length;
    this.ensure(5 + len);
    if (len < 0x100) {
      this.buf[this.pos++] = 0xc4;
      this.buf[this.pos++] = len;
    } else if (len < 0x10000) {
      this.buf[this.pos++] = 0xc5;
      this.buf.writeUInt16BE(len, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xc6;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
    this.buf.set(value, this.pos);
    this.pos += len;
  }

  arrayHeader(len: number): void {
    this.ensure(5);
    if (len < 16) this.buf[this.pos++] = 0x90 | len;
    else if (len < 0x10000) {
      this.buf[this.pos++] = 0xdc;
      this.buf.writeUInt16BE(len, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdd;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
  }

  mapHeader(len: number): void {
    this.ensure(5);
    if (len < 16) this.buf[this.pos++] = 0x80 | len;
    else if (len < 0x10000) {
      this.buf[this.pos++] = 0xde;
      this.buf.writeUInt16BE(len, this.pos);
      this.pos += 2;
    } else {
      this.buf[this.pos++] = 0xdf;
      this.buf.writeUInt32BE(len, this.pos);
      this.pos += 4;
    }
  }
}
