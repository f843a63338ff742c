import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Http1ResponseParser, HttpParseError, MAX_HEAD_BYTES, type ResponseHead } from "./http1-parser";

/** Feeds `pieces` to a fresh parser; what it reported, and the bytes it left unused. */
function parse(pieces: Buffer[], parser?: Http1ResponseParser, sink?: Recorded) {
  const seen: Recorded = sink ?? { heads: [], body: [], completions: 0, leftover: 0 };
  const p =
    parser ??
    new Http1ResponseParser({
      onHead: (h) => seen.heads.push(h),
      // Copied: a view is valid during the call only.
      onBody: (b) => seen.body.push(Buffer.from(b)),
      onComplete: () => seen.completions++,
    });
  for (const piece of pieces) {
    // As the pool feeds it: one shared read buffer, bytes past `len` not this read's, and the
    // buffer overwritten by the next read (so a view kept past the call would show it).
    const shared = Buffer.concat([piece, Buffer.from("#junk#")]);
    const used = p.feed(shared, piece.length);
    shared.fill(0x23);
    seen.leftover += piece.length - used;
  }
  return { seen, parser: p, body: Buffer.concat(seen.body).toString("latin1") };
}

interface Recorded {
  heads: ResponseHead[];
  body: Buffer[];
  completions: number;
  leftover: number;
}

/** `bytes` cut at the given positions (any order, duplicates allowed). */
function cut(bytes: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((a) => a % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

/** A chunked body: `chunks` as chunks (with optional extensions), then optional trailers. */
function chunked(chunks: string[], extensions: boolean, trailers: string[], upperHex = false): string {
  return (
    chunks
      .filter((c) => c.length > 0)
      .map(
        (c) =>
          `${upperHex ? c.length.toString(16).toUpperCase() : c.length.toString(16)}${extensions ? ';name="v"' : ""}\r\n${c}\r\n`,
      )
      .join("") +
    "0\r\n" +
    trailers.map((t, i) => `x-trailer-${i}: ${t}\r\n`).join("") +
    "\r\n"
  );
}

const bodyText = fc.string({ unit: fc.constantFrom("a", "\n", ":", " ", "\r", "0", "{", "}", "é") });

describe("Http1ResponseParser", () => {
  it("chunked response cut at any byte boundary -> the same status, headers and body, completed once", () => {
    fc.assert(
      fc.property(
        fc.array(bodyText, { maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.stringMatching(/^[a-z0-9]{0,6}$/), { maxLength: 2 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        fc.boolean(),
        (chunks, extensions, trailers, cuts, upperHex, bareLf) => {
          const framed = chunked(chunks, extensions, trailers, upperHex);
          const head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n" +
            "keep-alive: timeout=5\r\n\r\n";
          // Lenient servers end head lines with a bare LF; the body's framing keeps CRLF.
          const wire = Buffer.from((bareLf ? head.replaceAll("\r\n", "\n") : head) + framed, "latin1");
          const { seen, body } = parse(cut(wire, cuts));
          expect(seen.heads).toEqual([
            { status: 200, contentType: "text/event-stream", keepAlive: true, keepAliveTimeoutMs: 5000 },
          ]);
          expect(body).toBe(Buffer.from(chunks.join(""), "latin1").toString("latin1"));
          expect(seen.completions).toBe(1);
          expect(seen.leftover).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("content-length response cut anywhere, then a second response on the same connection -> both whole", () => {
    fc.assert(
      fc.property(bodyText, bodyText, fc.array(fc.nat(), { maxLength: 12 }), (a, b, cuts) => {
        const first = Buffer.from(a, "latin1");
        const wire1 = Buffer.concat([
          Buffer.from(`HTTP/1.1 503 Service Unavailable\r\nContent-Length: ${first.length}\r\n\r\n`),
          first,
        ]);
        const r = parse(cut(wire1, cuts));
        expect(r.seen.heads[0]).toMatchObject({ status: 503, contentType: undefined, keepAlive: true });
        expect(r.body).toBe(first.toString("latin1"));
        expect(r.seen.completions).toBe(1);
        r.parser.reset();
        r.seen.body = [];
        const wire2 = Buffer.from(
          `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunked([b], false, [])}`,
          "latin1",
        );
        const again = parse(cut(wire2, cuts), r.parser, r.seen);
        expect(again.body).toBe(b);
        expect(again.seen.completions).toBe(2);
      }),
      { numRuns: 300 },
    );
  });

  it("one connection's heads repeated, changed, cut anywhere -> each reported as a fresh parser reports it", () => {
    // A parser reuses the last head it parsed when the same bytes come again: every field and
    // the framing must still be those of the head actually received.
    const heads = [
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
      "HTTP/1.1 500 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nkeep-alive: timeout=7\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\n",
      "HTTP/1.1 204 No Content\r\n\r\n",
    ];
    const wire = (h: number, body: string) =>
      Buffer.from(
        heads[h]! + (h === 6 ? "" : h >= 4 ? body.slice(0, h - 2) : chunked([body], false, [])),
        "latin1",
      );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(heads.length - 1), fc.array(fc.nat(), { maxLength: 4 })), { maxLength: 12 }),
        (responses) => {
          const seen: Recorded = { heads: [], body: [], completions: 0, leftover: 0 };
          let parser: Http1ResponseParser | undefined;
          for (const [h, cuts] of responses) {
            const bytes = wire(h, "abc");
            const fresh = parse([bytes]);
            seen.body = [];
            const r = parse(cut(bytes, cuts), parser, seen);
            parser = r.parser;
            expect(seen.heads[seen.heads.length - 1]).toEqual(fresh.seen.heads[0]);
            expect(r.body).toBe(fresh.body);
            expect(r.parser.done).toBe(fresh.parser.done);
            parser.reset();
          }
          expect(seen.completions).toBe(responses.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("bytes after a complete response are left unused (no pipelining)", () => {
    const { seen, body } = parse([Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA")]);
    expect(body).toBe("ok");
    expect(seen.completions).toBe(1);
    expect(seen.leftover).toBe(5);
  });

  it("1xx interim responses are skipped; 204 has no body", () => {
    const { seen, body } = parse([
      Buffer.from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
      ),
    ]);
    expect(seen.heads.map((h) => h.status)).toEqual([204]);
    expect(body).toBe("");
    expect(seen.completions).toBe(1);
  });

  it("no length and not chunked -> the body runs to the connection's end, not reusable", () => {
    const { seen, body, parser } = parse([Buffer.from("HTTP/1.1 200 OK\r\n\r\nall of"), Buffer.from(" it")]);
    expect(seen.heads[0]!.keepAlive).toBe(false);
    expect(seen.completions).toBe(0);
    expect(parser.endOfInput()).toBe(true);
    expect(seen.completions).toBe(1);
    expect(body).toBe("all of it");
  });

  it("a chunked body cut short -> endOfInput says so", () => {
    const { seen, parser } = parse([
      Buffer.from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab"),
    ]);
    expect(parser.endOfInput()).toBe(false);
    expect(seen.completions).toBe(0);
  });

  it.each([
    ["connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n", false],
    ["HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n", false],
    [
      "HTTP/1.0 with keep-alive",
      "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n",
      true,
    ],
    ["bare LF line ends", "HTTP/1.1 200 OK\ncontent-length: 0\n\n", true],
  ])("%s -> keepAlive %s", (_name, wire, keepAlive) => {
    const { seen } = parse([Buffer.from(wire)]);
    expect(seen.heads[0]!.keepAlive).toBe(keepAlive);
    expect(seen.completions).toBe(1);
  });

  it.each([
    ["a bad status line", "HTTP/2 200\r\n\r\n", /bad status line/],
    ["a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", /bad header line/],
    [
      "conflicting content-length",
      "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
      /conflicting/,
    ],
    ["a bad content-length", "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", /bad content-length/],
    [
      "a chunk size that is not hex",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
      /chunk size/,
    ],
    [
      "a chunk longer than its size",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n",
      /longer than its size/,
    ],
    [
      "a huge chunk size",
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1000000000000\r\n",
      /too large/,
    ],
    ["101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\n\r\n", /101/],
  ])("%s -> HttpParseError", (_name, wire, message) => {
    expect(() => parse([Buffer.from(wire)])).toThrow(HttpParseError);
    expect(() => parse([Buffer.from(wire)])).toThrow(message);
  });

  it("bare-LF header lines ending in a CRLF empty line -> the head ends there, the body is the body", () => {
    const wire = "HTTP/1.1 200 OK\ncontent-length: 12\n\r\nab\r\n\r\ncd: ef";
    for (const pieces of [[Buffer.from(wire)], cut(Buffer.from(wire), [5, 20, 31, 33])]) {
      const { seen, body } = parse(pieces);
      expect(seen.heads).toHaveLength(1);
      expect(body).toBe("ab\r\n\r\ncd: ef");
      expect(seen.completions).toBe(1);
    }
  });

  it("a head trickled one byte per read -> parsed as if it came at once", () => {
    const wire = Buffer.from(
      "HTTP/1.1 200 OK\r\n" + "x-filler: aaaa\r\n".repeat(50) + "content-length: 2\r\n\r\nhi",
    );
    const { seen, body } = parse(
      cut(
        wire,
        Array.from({ length: wire.length }, (_, i) => i),
      ),
    );
    expect(seen.heads[0]!.status).toBe(200);
    expect(body).toBe("hi");
    expect(seen.completions).toBe(1);
  });

  it("a head that never ends -> HttpParseError once over the limit, fed in pieces", () => {
    const piece = Buffer.from("x-filler: " + "a".repeat(1000) + "\r\n");
    const pieces = [Buffer.from("HTTP/1.1 200 OK\r\n"), ...Array.from({ length: 70 }, () => piece)];
    expect(() => parse(pieces)).toThrow(`head longer than ${MAX_HEAD_BYTES} bytes`);
  });

  it("halt() from inside a callback stops the feed there", () => {
    let bodies = 0;
    const parser: Http1ResponseParser = new Http1ResponseParser({
      onHead: () => {},
      onBody: () => {
        bodies++;
        parser.halt();
      },
      onComplete: () => {
        throw new Error("must not complete");
      },
    });
    parser.feed(
      Buffer.from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n"),
    );
    expect(bodies).toBe(1);
  });
});
