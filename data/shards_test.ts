import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { Rng } from "./rng.ts";
import { SHARD_HEADER_BYTES, ShardReader, writeShard } from "./shards.ts";

Deno.test("shards round-trip with 2- and 4-byte tokens, in windows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const rng = new Rng(3);
    for (const vocabSize of [257, 65536, 65537, 100_000]) {
      const n = 1000 + 7;
      const tokens = Uint32Array.from({ length: n }, () => rng.int(vocabSize));
      tokens[0] = vocabSize - 1;
      const path = `${dir}/v${vocabSize}.bin`;
      writeShard(path, tokens, vocabSize);
      const width = vocabSize <= 65536 ? 2 : 4;
      assertEquals(Deno.statSync(path).size, SHARD_HEADER_BYTES + n * width);
      assert(!exists(`${path}.tmp`), "temporary file renamed away");

      const header = new DataView(Deno.readFileSync(path).buffer);
      assertEquals(new TextDecoder().decode(new Uint8Array(header.buffer, 0, 8)), "IGPUTOKS");
      assertEquals(header.getUint32(8, true), 1);
      assertEquals(header.getUint32(12, true), width);
      assertEquals(header.getUint32(16, true), vocabSize);
      assertEquals(header.getBigUint64(24, true), BigInt(n));

      using reader = ShardReader.open(path);
      assertEquals([reader.count, reader.vocabSize, reader.bytesPerToken], [n, vocabSize, width]);
      assertEquals(reader.read(0, n), tokens);
      for (const [start, len] of [[0, 1], [1, 64], [n - 1, 1], [500, 507], [n, 0], [333, 1]]) {
        assertEquals(reader.read(start, len), tokens.subarray(start, start + len));
      }
      await assertRejects(() => reader.read(n - 5, 6), /outside token shard/);
      await assertRejects(() => reader.read(-1, 2), /outside token shard/);
    }
    // Plain arrays and Uint16Array inputs.
    writeShard(`${dir}/a.bin`, [5, 0, 4], 6);
    writeShard(`${dir}/b.bin`, new Uint16Array([1, 2]), 3);
    writeShard(`${dir}/empty.bin`, [], 3);
    using a = ShardReader.open(`${dir}/a.bin`);
    using b = ShardReader.open(`${dir}/b.bin`);
    using empty = ShardReader.open(`${dir}/empty.bin`);
    assertEquals([...a.read(0, 3)], [5, 0, 4]);
    assertEquals([...b.read(0, 2)], [1, 2]);
    assertEquals(empty.count, 0);
    // Overwriting an existing shard replaces it.
    writeShard(`${dir}/a.bin`, [1], 6);
    using a2 = ShardReader.open(`${dir}/a.bin`);
    assertEquals(a2.count, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeShard rejects tokens outside the vocabulary", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/x.bin`;
    await assertRejects(() => writeShard(path, [1, 7, 2], 7), /Token 7 at index 1 is outside/);
    await assertRejects(() => writeShard(path, [1, -1], 7), /Token -1 at index 1/);
    await assertRejects(() => writeShard(path, [1], 0), /vocab size/);
    assert(!exists(path) && !exists(`${path}.tmp`), "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ShardReader names the file of a malformed shard", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/good.bin`;
    writeShard(good, [1, 2, 3, 4], 10);
    const bytes = Deno.readFileSync(good);
    const variant = (name: string, edit: (b: Uint8Array) => Uint8Array) => {
      const path = `${dir}/${name}.bin`;
      Deno.writeFileSync(path, edit(bytes.slice()));
      return path;
    };
    const cases: [string, RegExp][] = [
      [variant("magic", (b) => (b[0] = 0x58, b)), /bad magic "XGPUTOKS"/],
      [variant("version", (b) => (b[8] = 2, b)), /unsupported version 2/],
      [variant("width", (b) => (b[12] = 4, b)), /4 bytes per token for vocab size 10/],
      [variant("truncated", (b) => b.subarray(0, b.length - 1)), /truncated: .*4 tokens/],
      [variant("count", (b) => (b[24] = 9, b)), /truncated: the header says 9 tokens/],
      [variant("header", (b) => b.subarray(0, 20)), /less than the 64-byte header/],
      [variant("trailing", (b) => Uint8Array.from([...b, 0, 0])), /2 unexpected bytes/],
    ];
    for (const [path, pattern] of cases) {
      const e = await assertRejects(() => ShardReader.open(path), pattern);
      assert(e.message.includes(path), `names the file: ${e.message}`);
      assert(!e.message.includes("\n"));
    }
    await assertRejects(
      () => ShardReader.open(`${dir}/missing.bin`),
      /missing\.bin does not exist/,
    );
    const r = ShardReader.open(good);
    r.close();
    await assertRejects(() => r.read(0, 1), /is closed/);
    r.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
