import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { type Checkpoint, loadCheckpoint, loadModel, saveCheckpoint } from "./checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { initialParameters } from "./gpt.ts";
import type { GptConfig } from "./config.ts";

const config: GptConfig = { vocabSize: 0, context: 8, layers: 1, heads: 2, width: 8 };
const tokenizer = buildTokenizer("bytes");
config.vocabSize = tokenizer.vocabSize;

function checkpoint(): Checkpoint {
  return {
    config,
    tokenizer: tokenizer.spec as unknown as Record<string, unknown>,
    params: initialParameters(config, 3),
    state: { stage: "pretrain", step: 7 },
  };
}

Deno.test("a checkpoint round-trips and uses Hugging Face GPT-2 names and layouts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ckpt = checkpoint();
    await saveCheckpoint(`${dir}/c`, ckpt);
    const st = decodeSafetensors(await Deno.readFile(`${dir}/c/model.safetensors`), "m");
    // Conv1D orientation: (in, out)
    assertEquals(st.tensors.get("transformer.h.0.attn.c_attn.weight")!.shape, [8, 24]);
    assertEquals(st.tensors.get("transformer.h.0.mlp.c_proj.weight")!.shape, [32, 8]);
    assertEquals(st.tensors.get("transformer.wte.weight")!.shape, [257, 8]);
    assert(!st.tensors.has("lm_head.weight"), "the LM head is tied");
    const back = await loadCheckpoint(`${dir}/c`);
    assertEquals(back.config, config);
    assertEquals(back.state.step, 7);
    for (const [name, v] of ckpt.params) assertEquals([...back.params.get(name)!], [...v], name);
    // no temporary directories left behind
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["c"]);
    // saving again replaces atomically
    await saveCheckpoint(`${dir}/c`, { ...ckpt, state: { stage: "pretrain", step: 8 } });
    assertEquals((await loadCheckpoint(`${dir}/c`)).state.step, 8);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["c"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("damaged checkpoints are refused with a message naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/c`, checkpoint());
    const model = await Deno.readFile(`${dir}/c/model.safetensors`);
    const cfg = await Deno.readTextFile(`${dir}/c/config.json`);
    const cases: [string, () => Promise<void>, RegExp][] = [
      ["missing dir", async () => {}, /does not exist/],
      [
        "truncated",
        () => Deno.writeFile(`${dir}/c/model.safetensors`, model.slice(0, model.length - 100)),
        /model\.safetensors/,
      ],
      ["lying header", async () => {
        const st = decodeSafetensors(model, "m");
        const bytes = encodeSafetensors(st.tensors);
        const view = new DataView(bytes.buffer);
        const n = Number(view.getBigUint64(0, true));
        const header = new TextDecoder().decode(bytes.subarray(8, 8 + n)).replace(
          /"data_offsets":\[0,/,
          '"data_offsets":[4,',
        );
        const h = new TextEncoder().encode(header);
        const out = new Uint8Array(bytes.length);
        out.set(bytes);
        out.set(h, 8);
        await Deno.writeFile(`${dir}/c/model.safetensors`, out);
      }, /data offsets|bytes for shape|offsets/],
      [
        "config missing keys",
        () => Deno.writeTextFile(`${dir}/c/config.json`, '{"n_layer": 1}'),
        /vocab_size/,
      ],
      [
        "config wrong type",
        () =>
          Deno.writeTextFile(`${dir}/c/config.json`, cfg.replace('"n_embd": 8', '"n_embd": "8"')),
        /n_embd/,
      ],
      [
        "config not json",
        () => Deno.writeTextFile(`${dir}/c/config.json`, "{"),
        /not a JSON object/,
      ],
      [
        "shape mismatch",
        () =>
          Deno.writeTextFile(`${dir}/c/config.json`, cfg.replace('"n_embd": 8', '"n_embd": 16')),
        /does not match config\.json/,
      ],
    ];
    for (const [what, damage, pattern] of cases) {
      await Deno.remove(`${dir}/c`, { recursive: true });
      await saveCheckpoint(`${dir}/c`, checkpoint());
      if (what === "missing dir") await Deno.remove(`${dir}/c`, { recursive: true });
      await damage();
      await assertRejects(() => loadCheckpoint(`${dir}/c`), pattern, what);
      if (what === "missing dir") await saveCheckpoint(`${dir}/c`, checkpoint());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a tokenizer that does not fit the model's vocabulary is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/c`, checkpoint());
    await Deno.writeTextFile(
      `${dir}/c/tokenizer.json`,
      JSON.stringify(buildTokenizer("gpt2").spec),
    );
    const gpu = await getGpu();
    await assertRejects(() => loadModel(gpu, `${dir}/c`), /different runs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
