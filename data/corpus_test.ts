import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import {
  corpusTexts,
  listCorpusFiles,
  prepareCorpus,
  readCorpusManifest,
  tokenizeTexts,
} from "./corpus.ts";
import { Rng } from "./rng.ts";
import { ShardReader } from "./shards.ts";
import { buildTokenizer } from "./tokenizer.ts";

const bytes = buildTokenizer("bytes");
const utf8 = (s: string) => Array.from(new TextEncoder().encode(s));
const utf8Length = (s: string) => new TextEncoder().encode(s).length;

function readShards(paths: string[]): number[] {
  const out: number[] = [];
  for (const path of paths) {
    using r = ShardReader.open(path);
    for (const t of r.read(0, r.count)) out.push(t);
  }
  return out;
}

/** Compares long token lists, reporting only the first difference. */
function assertSameTokens(actual: ArrayLike<number>, expected: ArrayLike<number>, name: string) {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  assert(
    i === n && actual.length === expected.length,
    `${name}: lengths ${actual.length} and ${expected.length}, first difference at ${i}`,
  );
}

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `files` (relative path -> text) under `dir`. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    Deno.writeTextFileSync(path, text);
  }
}

Deno.test("prepareCorpus walks folders, splits every file and writes bounded shards", async () => {
  await withTempDir((dir) => {
    const texts = {
      "in/b.txt": "line one\nline two\nline three\nline four\nline five\n",
      "in/a.md": "# Title\n\nSome text.\n\nMore text here\nand the end\n",
      "in/sub/deep/c.TXT": "ünïcödé 🙂 line\nsecond line 🙂\n",
      "in/sub/one-line.txt": "a single line without a break",
      "in/skip.json": "{}",
      "in/.hidden/x.txt": "hidden",
      "extra/notes.text": "explicit file\nwith any extension\n",
    };
    writeTree(dir, texts);
    const inputs = [`${dir}/in/`, `${dir}/extra/notes.text`, `${dir}/in/b.txt`];
    const files = listCorpusFiles(inputs);
    assertEquals(files, [
      `${dir}/extra/notes.text`,
      `${dir}/in/a.md`,
      `${dir}/in/b.txt`,
      `${dir}/in/sub/deep/c.TXT`,
      `${dir}/in/sub/one-line.txt`,
    ]);

    const seen: string[] = [];
    const out = `${dir}/out`;
    const result = prepareCorpus(inputs, bytes, out, {
      valFraction: 0.5,
      splitBlock: 50,
      shardTokens: 40,
      onFile: (path) => seen.push(path),
    });
    assertEquals(seen, files);

    const expected = tokenizeTexts(files.map((f) => Deno.readTextFileSync(f)), bytes, {
      valFraction: 0.5,
      splitBlock: 50,
    });
    const train = readShards(result.train);
    const val = readShards(result.val);
    assertEquals(train, [...expected.train]);
    assertEquals(val, [...expected.val]);
    assertEquals(result.tokens, train.length + val.length);
    assertEquals([result.trainTokens, result.valTokens], [train.length, val.length]);

    // By hand: the files hold 33 + 48 + 49 + 39 + 29 = 198 bytes, so 4 blocks start at bytes 0,
    // 49, 99 and 148, and their val halves are [25, 49), [74, 99), [124, 148) and [173, 198).
    // A line goes to val when it starts in one of them.
    const docs = (ids: number[]) => bytes.decode(ids).split("<|endoftext|>").slice(1);
    assertEquals(docs(val), [
      "# Title\n\nSome text.\n", // a.md, bytes 33-52
      "line one\nline two\n", // b.txt, bytes 81-98
      "ünïcödé 🙂 line\n", // c.TXT, bytes 130-151
    ]);
    assertEquals(docs(train), [
      "explicit file\nwith any extension\n",
      "\nMore text here\nand the end\n",
      "line three\nline four\nline five\n",
      "second line 🙂\n",
      "a single line without a break",
    ]);

    // Shards: all full but the last, named in order, described by the manifest.
    for (const paths of [result.train, result.val]) {
      const counts = paths.map((p) => ShardReader.open(p)).map((r) => (r.close(), r.count));
      assert(counts.slice(0, -1).every((c) => c === 40), `shard sizes ${counts}`);
      assert(counts[counts.length - 1] <= 40 && counts[counts.length - 1] > 0);
    }
    assertEquals(result.train[0], `${out}/train_000000.bin`);
    assertEquals(result.val[1], `${out}/val_000001.bin`);
    const manifest = readCorpusManifest(out);
    assertEquals(manifest.train, result.train);
    assertEquals(manifest.val, result.val);
    assertEquals(manifest.tokenizer, bytes.spec);
    assertEquals(manifest.files, files);

    // A second preparation with bigger shards removes the stale ones.
    const again = prepareCorpus(inputs, bytes, out, {
      valFraction: 0.5,
      splitBlock: 50,
      shardTokens: 1000,
    });
    assertEquals(again.train.length, 1);
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assertEquals(names, ["corpus.json", "train_000000.bin", "val_000000.bin"]);
    assertEquals(readShards(again.train), train);

    // valFraction 0: no val shards.
    const noVal = prepareCorpus(inputs, bytes, `${dir}/out0`, { valFraction: 0 });
    assertEquals(noVal.val, []);
    assertEquals(
      noVal.tokens,
      utf8(files.map((f) => Deno.readTextFileSync(f)).join("")).length + 5,
    );
  });
});

Deno.test("streamed reading matches whole-text tokenization across 1 MiB chunks", async () => {
  await withTempDir((dir) => {
    const rng = new Rng(5);
    const words = ["the", "cat", "naïve", "日本", "🙂", "👨‍👩‍👧", "ok,", "it's", "42", "\t", "—"];
    const seps = [" ", " ", " ", "\n", "\n\n", "  \n \n ", "\r\n\r\n", ".\n\n\n", " "];
    const randomText = (bytes: number) => {
      let t = "";
      while (utf8Length(t) < bytes) {
        // Grow in blocks; utf8Length is linear.
        let block = "";
        for (let i = 0; i < 1000; i++) {
          block += words[rng.int(words.length)] + seps[rng.int(seps.length)];
        }
        t += block;
      }
      return t;
    };
    // An emoji straddles the first 1 MiB read boundary.
    let text = randomText((1 << 20) - 20_000);
    text += "x".repeat((1 << 20) - 2 - utf8Length(text)) + "🙂";
    text += randomText(500_000);
    Deno.writeTextFileSync(`${dir}/big.txt`, text);
    const gpt2 = buildTokenizer("gpt2");
    const result = prepareCorpus([`${dir}/big.txt`], gpt2, `${dir}/out`, { valFraction: 0.3 });
    const expected = tokenizeTexts([text], gpt2, { valFraction: 0.3 });
    const train = readShards(result.train), val = readShards(result.val);
    assertSameTokens(train, expected.train, "train");
    assertSameTokens(val, expected.val, "val");
    assert(result.valTokens > 0.25 * result.tokens && result.valTokens < 0.35 * result.tokens);

    // One file: train and val runs alternate, and together they are the text.
    const runs = (ids: number[]) => {
      const out: number[][] = [];
      for (const id of ids) id === gpt2.eot ? out.push([]) : out[out.length - 1].push(id);
      return out;
    };
    const trainRuns = runs(train), valRuns = runs(val);
    assert(valRuns.length > 10, `${valRuns.length} val runs`);
    assert(trainRuns.length - valRuns.length <= 1);
    let joined = "";
    for (let i = 0; i < trainRuns.length; i++) {
      joined += gpt2.decode(trainRuns[i]) + (i < valRuns.length ? gpt2.decode(valRuns[i]) : "");
    }
    assert(joined === text, "runs put together give the text back");

    // Paragraph pieces give exactly GPT-2's tokens of a whole run.
    for (const run of [trainRuns[0], valRuns[3], trainRuns[12]]) {
      assertSameTokens(run, gpt2.encode(gpt2.decode(run)), "whole-run encoding");
    }

    // corpusTexts yields the same pieces: a compact vocabulary covers every id exactly.
    const compact = buildTokenizer("gpt2-compact", corpusTexts([`${dir}/big.txt`]));
    const used = new Set([...train, ...val]);
    const ids = new Set(compact.spec.ids!);
    assert([...used].every((id) => ids.has(id)), "every corpus token is in the compact vocabulary");
    const extra = compact.spec.ids!.filter((id) => !used.has(id));
    assert(extra.every((id) => gpt2.decodeBytes([id]).length === 1), "the rest are byte tokens");
  });
});

Deno.test("tokenizeTexts splits each text and marks documents with eot", () => {
  const gpt2 = buildTokenizer("gpt2");
  const texts = ["Hello world.\nSecond line.\n", "", "Tiny"];
  // 30 bytes, one block: lines starting at byte 15 or later go to val.
  const { train, val } = tokenizeTexts(texts, gpt2, { valFraction: 0.5 });
  assertEquals([...train], [gpt2.eot, ...gpt2.encode(texts[0])]);
  assertEquals([...val], [gpt2.eot, ...gpt2.encode("Tiny")]);
  const all = tokenizeTexts(texts, bytes, { valFraction: 0 });
  assertEquals(all.val.length, 0);
  assertEquals(all.train.length, utf8(texts.join("")).length + 2);

  // Many one-line texts: whole texts go to val, about valFraction of the bytes, spread out.
  const rng = new Rng(11);
  const many = Array.from({ length: 2000 }, (_, i) => `Text ${i} ${"word ".repeat(rng.int(80))}.`);
  const split = tokenizeTexts(many, bytes, { valFraction: 0.1 });
  const valTexts = bytes.decode(split.val).split("<|endoftext|>").slice(1);
  const total = utf8(many.join("")).length;
  const valBytes = utf8(valTexts.join("")).length;
  assert(Math.abs(valBytes / total - 0.1) < 0.01, `val holds ${valBytes} of ${total} bytes`);
  assert(valTexts.every((t) => many.includes(t)), "val holds whole texts");
  const indices = valTexts.map((t) => Number(t.split(" ")[1]));
  const stretches = indices.filter((n, i) => i === 0 || n !== indices[i - 1] + 1).length;
  assertEquals(stretches, Math.ceil(total / 65536), "one stretch of texts per 64 KiB block");
  assertEquals(split.train.length + split.val.length, total + many.length);
});

Deno.test("paragraphs longer than 1 Mi characters are cut without losing text", () => {
  const long = "word ".repeat(300_000); // no blank line at all
  const noSpace = "x".repeat((1 << 20) - 1) + "🙂" + "y".repeat(1000); // the emoji spans the limit
  for (const text of [long, noSpace]) {
    const { train, val } = tokenizeTexts([text], bytes, { valFraction: 0 });
    assertEquals(val.length, 0);
    assert(bytes.decode(train.subarray(1)) === text, "round trip");
  }
});

Deno.test("corpus errors name the path and the fix", async () => {
  await withTempDir(async (dir) => {
    writeTree(dir, { "empty/a.txt": "", "empty/b.md": "", "none/data.json": "{}" });
    const out = `${dir}/out`;
    const cases: [string[], RegExp][] = [
      [[`${dir}/missing`], /Corpus input .*missing does not exist: check the path/],
      [[`${dir}/none`], /Corpus is empty: no \.txt or \.md files under .*none/],
      [[`${dir}/empty`], /Corpus is empty: the 2 file\(s\) under .*empty hold no text/],
    ];
    for (const [inputs, pattern] of cases) {
      const e = await assertRejects(() => prepareCorpus(inputs, bytes, out), pattern);
      assert(!e.message.includes("\n"));
    }
    await assertRejects(() => tokenizeTexts(["", ""], bytes), /Corpus is empty/);
    await assertRejects(() => tokenizeTexts(["x"], bytes, { valFraction: 1 }), /Val fraction/);
    await assertRejects(
      () => prepareCorpus([`${dir}/empty`], bytes, out, { shardTokens: 0 }),
      /Shard size/,
    );
  });
});

Deno.test("an unreadable corpus file is named in the error", async () => {
  await withTempDir(async (dir) => {
    writeTree(dir, { "in/a.txt": "readable\n", "in/b.txt": "secret\n" });
    // Deny reading one file to a child process (chmod does not stop root).
    const script = `
      import { prepareCorpus } from ${JSON.stringify(new URL("./corpus.ts", import.meta.url).href)};
      import { buildTokenizer } from ${
      JSON.stringify(new URL("./tokenizer.ts", import.meta.url).href)
    };
      try {
        prepareCorpus([${JSON.stringify(`${dir}/in`)}], buildTokenizer("bytes"), ${
      JSON.stringify(`${dir}/out`)
    });
        console.log("no error");
      } catch (e) {
        console.log(e.message);
      }
    `;
    Deno.writeTextFileSync(`${dir}/script.ts`, script);
    const config = new URL("../deno.json", import.meta.url).pathname;
    const { stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        `--config=${config}`,
        "--allow-read",
        "--allow-write",
        "--allow-env",
        `--deny-read=${dir}/in/b.txt`,
        `${dir}/script.ts`,
      ],
      stderr: "inherit",
    }).output();
    const message = new TextDecoder().decode(stdout).trim();
    assert(message.startsWith(`Cannot read corpus file ${dir}/in/b.txt:`), message);
    assert(!message.includes("\n"), message);
  });
});
