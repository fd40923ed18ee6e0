import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import {
  type Checkpoint,
  claimOutput,
  historyDir,
  latestCheckpoint,
  loadCheckpoint,
  loadModel,
  newRunId,
  readRunMarker,
  resumePoint,
  runMarkerPath,
  saveCheckpoint,
} from "./checkpoint.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import { initialParameters } from "./gpt.ts";
import { runScript } from "../tests/_run.ts";
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

Deno.test("a weight that is not finite is refused on load, naming the tensor and index", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/c`, checkpoint());
    const file = `${dir}/c/model.safetensors`;
    const clean = decodeSafetensors(await Deno.readFile(file), "m").tensors;
    const cases: [string, number, string][] = [
      ["transformer.wte.weight", 3 * 8 + 5, "NaN at index [3, 5]"],
      ["transformer.h.0.attn.c_attn.weight", 24 + 2, "Infinity at index [1, 2]"],
      ["transformer.ln_f.bias", 7, "-Infinity at index [7]"],
    ];
    for (const [name, index, says] of cases) {
      const tensors = new Map(clean);
      const data = Float32Array.from(tensors.get(name)!.data);
      data[index] = says.startsWith("NaN") ? NaN : says.startsWith("-") ? -Infinity : Infinity;
      tensors.set(name, { ...tensors.get(name)!, data });
      await Deno.writeFile(file, encodeSafetensors(tensors));
      const escaped = `${name} holds ${says}`.replace(/[.[\]]/g, "\\$&");
      await assertRejects(() => loadCheckpoint(`${dir}/c`), new RegExp(`${escaped}: the weights`));
    }
    // What a user sees: one line and exit code 2, from any script that loads it.
    const r = await runScript("scripts/sample.ts", ["--checkpoint", `${dir}/c`, "--prompt", "Hi"]);
    assertEquals(r.code, 2, r.stderr);
    assertEquals(
      r.stderr,
      `error: ${file}: tensor transformer.ln_f.bias holds -Infinity at index [7]: the weights are ` +
        `damaged; re-create or download the checkpoint again\n`,
    );
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

/** The names in a directory, sorted ([] when it does not exist). */
function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

const at = (step: number): Checkpoint => ({ ...checkpoint(), state: { stage: "pretrain", step } });

Deno.test("keep: replaced checkpoints move to <dir>.steps and only the newest keep-1 stay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = `${dir}/c`;
    for (const step of [2, 4, 6, 8]) await saveCheckpoint(c, at(step), { keep: 3 });
    assertEquals((await loadCheckpoint(c)).state.step, 8);
    assertEquals(names(dir), ["c", "c.steps"]);
    assertEquals(names(historyDir(c)), ["step-00000004", "step-00000006"]);
    assertEquals((await loadCheckpoint(`${c}.steps/step-00000006`)).state.step, 6);
    // A smaller --keep prunes the history at the next save; keep 1 removes it.
    await saveCheckpoint(c, at(10), { keep: 2 });
    assertEquals(names(historyDir(c)), ["step-00000008"]);
    await saveCheckpoint(c, at(12), { keep: 1 });
    assertEquals(names(dir), ["c"]);
    // A fresh run over an old --out replaces its checkpoint and history at the first save.
    for (const step of [14, 16]) await saveCheckpoint(c, at(step), { keep: 3 });
    await saveCheckpoint(c, at(1), { keep: 3, replace: true });
    assertEquals(names(dir), ["c"]);
    assertEquals((await loadCheckpoint(c)).state.step, 1);
    await saveCheckpoint(c, at(2), { keep: 3 });
    assertEquals(names(historyDir(c)), ["step-00000001"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("latestCheckpoint: the output when complete, else the newest complete earlier one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = `${dir}/c`;
    assertEquals(await latestCheckpoint(c), c); // nothing at all: loading c reports it
    for (const step of [3, 6, 9]) await saveCheckpoint(`${c}/`, at(step), { keep: 3 });
    assertEquals(await latestCheckpoint(`${c}/`), c);
    // A crash between moving the old checkpoint aside and renaming the new one into place.
    await Deno.rename(c, `${dir}/c.tmp-1`);
    await Deno.remove(`${dir}/c.tmp-1/state.json`);
    assertEquals(await latestCheckpoint(c), `${c}.steps/step-00000006`);
    // An incomplete output, and an incomplete newest history entry, are passed over.
    await saveCheckpoint(`${dir}/x`, at(5));
    await Deno.rename(`${dir}/x`, c);
    await Deno.remove(`${c}/model.safetensors`);
    await Deno.remove(`${c}.steps/step-00000006/config.json`);
    assertEquals(await latestCheckpoint(c), `${c}.steps/step-00000003`);
    // With keep 1 the old checkpoint waits in <dir>.old-<pid> until the new one is in place.
    await saveCheckpoint(`${dir}/d`, at(7));
    await Deno.rename(`${dir}/d`, `${dir}/d.old-42`);
    assertEquals(await latestCheckpoint(`${dir}/d`), `${dir}/d.old-42`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resumePoint: only the checkpoints of the run that claimed the output", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = `${dir}/c`;
    const of = (run: string | undefined, step: number): Checkpoint => ({
      ...checkpoint(),
      state: { stage: "pretrain", step, ...(run ? { run_id: run } : {}) },
    });
    // An output of an older layout (no marker, no run ids): the newest complete checkpoint.
    assertEquals(await resumePoint(c), { from: c, owner: undefined });
    for (const step of [2, 4]) await saveCheckpoint(c, of(undefined, step), { keep: 3 });
    assertEquals(await resumePoint(c), { from: c, owner: undefined });
    // The old run finished there; a new run claims the output and is killed before it saves.
    for (const step of [6, 8]) await saveCheckpoint(c, of("old", step), { keep: 3 });
    const run = newRunId();
    assert(run !== newRunId(), "run ids repeat");
    await claimOutput(`${c}/`, run, "pretrain");
    assertEquals((await readRunMarker(c))?.run_id, run);
    assertEquals((await readRunMarker(c))?.stage, "pretrain");
    const stale = await resumePoint(c);
    assertEquals(stale.from, undefined);
    assertEquals(stale.owner?.run_id, run);
    assert(stale.stale?.includes(`pretrain run ${run}`), stale.stale);
    assertEquals(await latestCheckpoint(c, run), c); // none of its own: loading c reports it
    // Its first save replaces the old run's; a crash in a later one still finds its own.
    await saveCheckpoint(c, of(run, 1), { keep: 3, replace: true });
    await saveCheckpoint(c, of(run, 2), { keep: 3 });
    assertEquals(await resumePoint(c), { from: c, owner: await readRunMarker(c) });
    await Deno.remove(`${c}/state.json`);
    assertEquals((await resumePoint(c)).from, `${c}.steps/step-00000001`);
    // A checkpoint of another run in the history is passed over.
    await Deno.rename(`${c}.steps/step-00000001`, `${c}.steps/step-00000009`);
    await saveCheckpoint(`${dir}/x`, of("old", 9));
    await Deno.rename(`${dir}/x`, `${c}.steps/step-00000010`);
    assertEquals((await resumePoint(c)).from, `${c}.steps/step-00000009`);
    assertEquals(await latestCheckpoint(c), `${c}.steps/step-00000010`);
    // A damaged marker is refused, naming the file.
    await Deno.writeTextFile(runMarkerPath(c), "{");
    await assertRejects(() => resumePoint(c), /c\.run\.json is damaged/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint with a non-finite value is refused and the previous one is kept", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = `${dir}/c`;
    await saveCheckpoint(c, at(4), { keep: 3 });
    for (const bad of [NaN, Infinity]) {
      const ckpt = at(5);
      ckpt.params.get("transformer.h.0.mlp.c_fc.weight")![17] = bad;
      await assertRejects(
        () => saveCheckpoint(c, ckpt, { keep: 3 }),
        new RegExp(`^Step 5: parameter transformer\\.h\\.0\\.mlp\\.c_fc\\.weight holds ${bad}`),
      );
      const moments = at(5);
      const zeros = new Map([...moments.params].map(([k, v]) => [k, new Float32Array(v.length)]));
      const v = new Map(zeros);
      v.set("transformer.wte.weight", new Float32Array(zeros.get("transformer.wte.weight")!));
      v.get("transformer.wte.weight")![0] = bad;
      moments.optimizer = { m: zeros, v };
      await assertRejects(() => saveCheckpoint(c, moments), /AdamW moment transformer\.wte/);
    }
    assertEquals((await loadCheckpoint(c)).state.step, 4);
    assertEquals(names(dir), ["c"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
