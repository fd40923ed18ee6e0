/**
 * A GPT-2 directory as Hugging Face serves it (tests/fixtures/hf_gpt2_tiny: `GPT2Model` names,
 * float16 weights, the attention buffers; written by tests/reference/hf_gpt2_tiny.py) loads with
 * PyTorch's logits, in each layout a download may have, and trains through SFT and RLHF from
 * `--init`; the checkpoints then carry GPT-2's vocab.json and merges.txt. The tokenizer files are
 * written here from js-tiktoken's ranks (data/hf_tokenizer_test.ts checks them against GPT-2's).
 */
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { exists, runScript } from "./_run.ts";
import { getGpu } from "../gpu/device.ts";
import { readTensor, relativeL2 } from "../gpu/testing.ts";
import { gpt2MergesTxt, gpt2VocabJson } from "../data/hf_tokenizer.ts";
import { loadCheckpoint, loadModel } from "../model/checkpoint.ts";
import { Evaluator } from "../model/generate.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "../model/safetensors.ts";

const FIXTURE = new URL("./fixtures/hf_gpt2_tiny/", import.meta.url).pathname;
const reference = decodeSafetensors(
  await Deno.readFile(new URL("./fixtures/hf_gpt2_tiny.reference.safetensors", import.meta.url)),
  "reference",
);
const ref = (name: string) => reference.tensors.get(name)!.data;

/** A copy of the fixture with GPT-2's tokenizer files, as downloaded. */
async function hubDir(dir: string): Promise<string> {
  const path = `${dir}/gpt2-tiny`;
  await Deno.mkdir(path, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) {
    await Deno.copyFile(FIXTURE + f, `${path}/${f}`);
  }
  await Deno.writeTextFile(`${path}/vocab.json`, gpt2VocabJson());
  await Deno.writeTextFile(`${path}/merges.txt`, gpt2MergesTxt());
  return path;
}

Deno.test("a Hugging Face GPT-2 directory loads and gives PyTorch's logits", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gpu = await getGpu();
    const { gpt, tokenizer, checkpoint } = await loadModel(gpu, await hubDir(dir));
    assertEquals(tokenizer.spec.kind, "gpt2");
    assertEquals(checkpoint.state.stage, "huggingface");
    assertEquals(checkpoint.config, {
      vocabSize: 50257,
      context: 128,
      layers: 2,
      heads: 1,
      width: 4,
    });
    const T = 16, V = 50257, edge = 64;
    const ev = new Evaluator(gpt, { B: 1, T });
    const loss = await ev.loss(
      Uint32Array.from(ref("inputs")),
      Uint32Array.from(ref("targets")),
    );
    const lossRef = ref("loss")[0];
    assert(Math.abs(loss - lossRef) / lossRef <= 1e-4, `loss ${loss} vs PyTorch ${lossRef}`);
    const logits = await readTensor(gpu, ev.graph.acts.get("logits"));
    const first: number[] = [], last: number[] = [];
    for (let t = 0; t < T; t++) {
      first.push(...logits.subarray(t * V, t * V + edge));
      last.push(...logits.subarray((t + 1) * V - edge, (t + 1) * V));
    }
    assert(relativeL2(first, ref("logits_first")) <= 1e-4, "logits of the first ids");
    assert(relativeL2(last, ref("logits_last")) <= 1e-4, "logits of the last ids");
    ev.destroy();
    gpt.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the layouts of a Hugging Face download load, other models are refused in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await hubDir(dir);
    const base = await loadCheckpoint(path);
    const file = decodeSafetensors(await Deno.readFile(`${path}/model.safetensors`), "m");
    const config = await Deno.readTextFile(`${path}/config.json`);
    const rewrite = (tensors: Map<string, NamedArray>) =>
      Deno.writeFile(`${path}/model.safetensors`, encodeSafetensors(tensors));

    // GPT2LMHeadModel's names in float32, with the tied head stored: the same parameters.
    const prefixed = new Map<string, NamedArray>();
    for (const [name, t] of file.tensors) prefixed.set(`transformer.${name}`, t);
    prefixed.set("lm_head.weight", file.tensors.get("wte.weight")!);
    await rewrite(prefixed);
    const loaded = await loadCheckpoint(path);
    for (const [name, v] of base.params) assertEquals(loaded.params.get(name), v, name);

    // tokenizer.json (the tokenizers library's file) instead of vocab.json + merges.txt.
    await Deno.remove(`${path}/vocab.json`);
    await Deno.remove(`${path}/merges.txt`);
    await assertRejects(() => loadCheckpoint(path), /has no tokenizer: download GPT-2's vocab/);
    const vocab = JSON.parse(gpt2VocabJson());
    const merges = gpt2MergesTxt().split("\n").slice(1, -1);
    await Deno.writeTextFile(
      `${path}/tokenizer.json`,
      JSON.stringify({ version: "1.0", model: { type: "BPE", vocab, merges } }),
    );
    assertEquals((await loadCheckpoint(path)).tokenizer, base.tokenizer);

    const refused: [string, () => Promise<void>, RegExp][] = [
      ["an untied head", () => {
        const head = file.tensors.get("wte.weight")!;
        const other = { ...head, data: head.data.map((x) => x + 1) as Float32Array };
        return rewrite(new Map([...prefixed, ["lm_head.weight", other]]));
      }, /lm_head\.weight differs from transformer\.wte\.weight/],
      ["pickle weights only", async () => {
        await Deno.remove(`${path}/model.safetensors`);
        await Deno.writeFile(`${path}/pytorch_model.bin`, new Uint8Array(8));
      }, /only safetensors weights are read \(never pickle\)/],
      [
        "another activation",
        () => Deno.writeTextFile(`${path}/config.json`, config.replace('"gelu_new"', '"relu"')),
        /"activation_function" is "relu", but only "gelu_new"/,
      ],
      ["an int8 weight", () => {
        const raw = new Map(prefixed);
        raw.delete("transformer.wpe.weight");
        const bytes = encodeSafetensors(raw);
        // Append wpe as I8 by editing the header: the loader must name it, not say "missing".
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
        const end = bytes.length - 8 - n;
        header["transformer.wpe.weight"] = {
          dtype: "I8",
          shape: [4],
          data_offsets: [end, end + 4],
        };
        const h = new TextEncoder().encode(JSON.stringify(header).padEnd(n + 8));
        const out = new Uint8Array(8 + h.length + end + 4);
        new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
        out.set(h, 8);
        out.set(bytes.subarray(8 + n), 8 + h.length);
        return Deno.writeFile(`${path}/model.safetensors`, out);
      }, /tensor transformer\.wpe\.weight is I8: only F32, F16 and BF16 weights are read/],
    ];
    for (const [what, damage, pattern] of refused) {
      await rewrite(prefixed);
      await Deno.writeTextFile(`${path}/config.json`, config);
      await Deno.remove(`${path}/pytorch_model.bin`).catch(() => {});
      await damage();
      await assertRejects(() => loadCheckpoint(path), pattern, what);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SFT and then RLHF train from a Hugging Face GPT-2 directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const init = await hubDir(dir);
    const sft = await runScript("stages/sft.ts", [
      ...["--init", init, "--out", `${dir}/sft`, "--steps", "3", "--batch", "2"],
      ...["--eval-prompts", "1", "--eval-tokens", "4", "--sample-tokens", "0", "--quiet"],
    ]);
    assertEquals(sft.code, 0, sft.stderr);
    assertMatch(sft.stdout, /from \S+gpt2-tiny \(huggingface\), tokenizer gpt2 \(50257 ids\)/);
    // Our checkpoint carries GPT-2's tokenizer files, as Hugging Face's loaders expect them.
    assertEquals(await Deno.readTextFile(`${dir}/sft/vocab.json`), gpt2VocabJson());
    assertEquals(await Deno.readTextFile(`${dir}/sft/merges.txt`), gpt2MergesTxt());
    const rlhf = await runScript("stages/rlhf.ts", [
      ...["--init", `${dir}/sft`, "--out", `${dir}/rlhf`, "--reward-out", `${dir}/reward`],
      ...["--rm-steps", "2", "--rm-batch", "2", "--rm-eval-pairs", "4", "--steps", "2"],
      ...["--batch", "2", "--max-tokens", "4", "--eval-prompts", "2", "--quiet"],
    ]);
    assertEquals(rlhf.code, 0, rlhf.stderr);
    for (const f of ["model.safetensors", "config.json", "vocab.json", "merges.txt"]) {
      assert(await exists(`${dir}/rlhf/${f}`), `rlhf: missing ${f}`);
    }
    const log = (await Deno.readTextFile(`${dir}/rlhf.metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assertEquals(log.filter((e) => e.phase === "ppo").length, 2);
    assert(log.every((e) => e.loss === undefined || Number.isFinite(e.loss)), "finite losses");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
