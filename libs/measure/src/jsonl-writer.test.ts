import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JsonlWriter } from "./jsonl-writer";

describe("JsonlWriter", () => {
  const dir = mkdtempSync(join(tmpdir(), "wg-jsonl-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lines written, then close -> every line in order", () => {
    const path = join(dir, "a.jsonl");
    const w = new JsonlWriter(path);
    for (let i = 0; i < 1000; i++) w.write(JSON.stringify({ i }));
    w.close();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines).toHaveLength(1000);
    expect(JSON.parse(lines[999]!)).toEqual({ i: 999 });
  });

  it("buffer over the size limit -> flushed before close", () => {
    const path = join(dir, "b.jsonl");
    const w = new JsonlWriter(path, 60_000, 100);
    for (let i = 0; i < 20; i++) w.write("x".repeat(9));
    expect(readFileSync(path, "utf8").length).toBeGreaterThanOrEqual(100);
    w.close();
    expect(readFileSync(path, "utf8")).toBe("xxxxxxxxx\n".repeat(20));
  });

  it("lines in two parts (multi-byte text, one longer than the buffer, mixed with lines) -> the parts joined", () => {
    const path = join(dir, "t.jsonl");
    const w = new JsonlWriter(path, 60_000, 64);
    const objects = [
      { t: "é€😀 \ud800 lone" },
      { y: "y".repeat(200_000) },
      ...Array.from({ length: 50 }, (_, i) => ({ i, u: "ü".repeat(i) })),
    ];
    const expected: string[] = [];
    objects.forEach((o, i) => {
      const json = JSON.stringify(o);
      const tail = `,"itl_count":${i}}`;
      w.write(json.slice(0, -1), tail);
      expected.push(json.slice(0, -1) + tail);
      w.write(`plain ${i}`);
      expected.push(`plain ${i}`);
    });
    w.close();
    expect(readFileSync(path, "utf8")).toBe(expected.join("\n") + "\n");
  });

  it("multi-byte text, a line longer than the whole buffer, lines across flushes -> the same bytes as written", () => {
    const path = join(dir, "d.jsonl");
    const w = new JsonlWriter(path, 60_000, 64);
    const lines = [
      "é€😀 \ud800 lone",
      "y".repeat(200_000),
      ...Array.from({ length: 50 }, (_, i) => `${i}:` + "ü".repeat(i)),
    ];
    for (const l of lines) w.write(l);
    w.close();
    expect(readFileSync(path)).toEqual(Buffer.from(lines.map((l) => l + "\n").join("")));
  });

  it("lines encoded into the buffer, mixed with lines, across flushes -> the same bytes; -1 -> nothing", () => {
    const path = join(dir, "e.jsonl");
    const w = new JsonlWriter(path, 60_000, 64);
    const expected: string[] = [];
    const encodeAscii = (text: string, out: Buffer, at: number) => at + out.write(text, at, "latin1");
    for (let i = 0; i < 60; i++) {
      expect(w.writeEncoded(`encoded ${i} ${"z".repeat(i)}`, encodeAscii)).toBe(true);
      expected.push(`encoded ${i} ${"z".repeat(i)}`);
      expect(w.writeEncoded("never", () => -1)).toBe(false);
      w.write(`plain ${i}`);
      expected.push(`plain ${i}`);
    }
    w.close();
    expect(readFileSync(path, "utf8")).toBe(expected.join("\n") + "\n");
    expect(() => w.writeEncoded("late", encodeAscii)).toThrow(/after close/);
  });

  it("process exits on an error before close -> the queued lines are still on disk", () => {
    const path = join(dir, "c.jsonl");
    // A child that queues lines and dies with process.exit(1), as runCli does after a bug.
    const child = join(dir, "child.mts");
    writeFileSync(
      child,
      `import { JsonlWriter } from ${JSON.stringify(join(__dirname, "jsonl-writer.ts"))};
      const w = new JsonlWriter(${JSON.stringify(path)}, 60000);
      w.write('{"a":1}'); w.write('{"a":2}');
      process.exit(1);`,
    );
    const r = spawnSync(process.execPath, [child], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(1);
    expect(readFileSync(path, "utf8")).toBe('{"a":1}\n{"a":2}\n');
  });
});
