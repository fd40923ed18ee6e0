import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { getGpu } from "../gpu/device.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { encodeInstructions, InstructionBatches } from "../data/instructions.ts";
import type { GptConfig } from "../model/config.ts";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import { Gpt, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { sft } from "./sft.ts";

const bytes = buildTokenizer("bytes");
const TINY: GptConfig = { vocabSize: 257, context: 64, layers: 1, heads: 2, width: 32 };

/** Writes a freshly initialised tiny checkpoint (bytes tokenizer) to `dir`. */
async function writeTinyCheckpoint(dir: string, stage = "pretrain"): Promise<void> {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, TINY, { seed: 11 });
  await saveCheckpoint(dir, {
    config: TINY,
    tokenizer: bytes.spec as unknown as Record<string, unknown>,
    params: await readTable(gpu, gpt.params),
    state: { stage, step: 0 },
  });
  gpt.destroy();
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("prompt masking: prompt targets do not touch the loss or any gradient", async () => {
  const gpu = await getGpu();
  const gpt = Gpt.create(gpu, TINY, { seed: 2 });
  const T = TINY.context;
  const trainer = new Trainer(gpt, { B: 2, T });
  const hyper = { lr: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 0 };
  const encoded = encodeInstructions(bytes, [
    { instruction: "Hi", response: "Hello there" },
    { instruction: "Name a fruit", response: "Apple" },
  ], T + 1);
  const [base] = new InstructionBatches(encoded, { T, pad: bytes.eot }).sequentialBatches(2);
  const run = async (edit: (b: typeof base) => void) => {
    const b = {
      inputs: base.inputs.slice(),
      targets: base.targets.slice(),
      weights: base.weights.slice(),
    };
    edit(b);
    const { loss } = await trainer.submit([b], hyper);
    return { loss, grads: await readTable(gpu, gpt.grads) };
  };
  const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) =>
    [...a.keys()].every((k) => a.get(k)!.every((v, i) => v === b.get(k)![i]));
  try {
    const ref = await run(() => {});
    assert(ref.loss > 0);
    // Row 1, position 3: a prompt token (weight 0); position of the first response target.
    const prompt = T + 3, response = T + encoded[1].promptLength - 1;
    assertEquals(base.weights[prompt], 0);
    assertEquals(base.weights[response], 1);
    const other = (id: number) => (id + 7) % 256;
    const masked = await run((b) => (b.targets[prompt] = other(b.targets[prompt])));
    assertEquals(masked.loss, ref.loss);
    assert(same(masked.grads, ref.grads), "a prompt target changed a gradient");
    assertEquals(base.weights[T - 1], 0); // row 0 ends with padding
    const padded = await run((b) => (b.targets[T - 1] = 5));
    assert(same(padded.grads, ref.grads), "a padding target changed a gradient");
    const changed = await run((b) => (b.targets[response] = other(b.targets[response])));
    assert(changed.loss !== ref.loss, "a response target must change the loss");
    assert(!same(changed.grads, ref.grads), "a response target must change the gradients");
  } finally {
    trainer.destroy();
    gpt.destroy();
  }
});

/** Malformed data: [name, file name, contents (undefined: no file), the expected message]. */
const BAD: [string, string, string | undefined, RegExp][] = [
  [
    "invalid JSON",
    "data.jsonl",
    '{"prompt": "a", "completion": "b"}\n{"prompt": }\n',
    /data\.jsonl line 2: invalid JSON/,
  ],
  [
    "missing field",
    "data.jsonl",
    '{"instruction": "a", "output": "b"}\n\n{"instruction": "c"}\n',
    /data\.jsonl line 3: missing "output" \(alpaca record\): fix the record or pass --format/,
  ],
  [
    "wrong type",
    "data.jsonl",
    '{"instruction": "a", "output": ["b"]}\n',
    /data\.jsonl line 1: "output" must be a string, got an array/,
  ],
  [
    "empty response",
    "data.json",
    '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c", "output": ""}\n]',
    /data\.json line 3: "output" is empty/,
  ],
  ["empty file", "data.jsonl", "", /data\.jsonl is empty/],
  ["missing file", "none.jsonl", undefined, /none\.jsonl does not exist/],
];

Deno.test("malformed data: one line naming the file and line, exit 2, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyCheckpoint(`${dir}/init`);
    for (const [name, file, text, pattern] of BAD) {
      const data = `${dir}/${name.replace(/ /g, "_")}/${file}`;
      await Deno.mkdir(`${dir}/${name.replace(/ /g, "_")}`);
      if (text !== undefined) await Deno.writeTextFile(data, text);
      const out = `${dir}/out/sft`;
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("./sft.ts", import.meta.url).pathname,
          "--init",
          `${dir}/init`,
          "--data",
          data,
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(r.stderr).trim();
      assertEquals(r.code, 2, `${name}: exit code (stderr: ${stderr})`);
      assertEquals(stderr.split("\n").length, 1, `${name}: one line, got ${stderr}`);
      assertMatch(stderr, /^error: /);
      assertMatch(stderr, pattern, name);
      assert(!(await exists(out)), `${name}: ${out} was written`);
      assert(!(await exists(`${dir}/out`)), `${name}: the output folder was created`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("end to end: the loss falls, the checkpoint is an SFT one, --resume continues", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeTinyCheckpoint(`${dir}/init`);
    const words = ["red", "blue", "green", "gold", "pink"];
    const records = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({
        prompt: `Color ${i % 5}?`,
        completion: `${words[i % 5]} ${words[(i + 1) % 5]}`,
      }));
    await Deno.writeTextFile(`${dir}/data.jsonl`, records.join("\n") + "\n");
    const common = [
      "--init",
      `${dir}/init`,
      "--data",
      `${dir}/data.jsonl`,
      "--out",
      `${dir}/sft`,
      "--batch",
      "4",
      "--lr",
      "3e-3",
      "--warmup",
      "2",
      "--eval-prompts",
      "2",
      "--eval-tokens",
      "4",
      "--sample-tokens",
      "0",
      "--quiet",
    ];
    // 38 train examples (2 held out), 3 epochs of batches of 4: 29 steps.
    await sft([...common, "--epochs", "3"]);
    const ckpt = await loadCheckpoint(`${dir}/sft`);
    assertEquals(ckpt.state.stage, "sft");
    assertEquals(ckpt.state.step, 29);
    assertEquals(ckpt.state.format, "prompt-completion");
    assert(typeof (ckpt.state.init_metrics as Record<string, number>).gold_score === "number");
    const log = (await Deno.readTextFile(`${dir}/sft.metrics.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    const losses = log.filter((r) => typeof r.loss === "number").map((r) => r.loss as number);
    assertEquals(losses.length, 29);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert(
      mean(losses.slice(-5)) < 0.75 * mean(losses.slice(0, 3)),
      `the loss did not fall: ${losses.map((l) => l.toFixed(2)).join(" ")}`,
    );
    const end = log.find((r) => r.event === "end");
    assert(end && typeof end.metrics.format_compliance === "number");

    await sft([...common, "--epochs", "4", "--resume"]);
    const resumed = await loadCheckpoint(`${dir}/sft`);
    assertEquals(resumed.state.step, 38);
    const log2 = (await Deno.readTextFile(`${dir}/sft.metrics.jsonl`)).trim().split("\n");
    assertEquals(log2.filter((l) => l.includes('"loss"') && !l.includes('"val_loss"')).length, 38);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
