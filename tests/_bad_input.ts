/**
 * The bad-input sweep of the stages (tests/bad_input_*_test.ts): each row is one run of a stage
 * that must be refused with one line naming the problem (`error: ...`), exit code 2, and nothing
 * written (the row's folder is the same after the run as before). Rows already covered elsewhere
 * (pretrain_test.ts: a missing or empty corpus, bad numbers, an unknown flag; sft_test.ts and
 * rlhf_test.ts: malformed records naming their line) are not repeated.
 *
 * @module
 */
import { listTree, pool, refusal, runScript, tinyCheckpoint } from "./_run.ts";
import { decodeSafetensors, encodeSafetensors } from "../model/safetensors.ts";
import { buildTokenizer } from "../data/tokenizer.ts";

/** One run: the flags (`$IN` is the inputs folder, `$OUT` the row's own), what the line says. */
export interface Row {
  args: string[];
  pattern: RegExp;
  /** Files to put in the row's folder first (path relative to it → a checkpoint variant). */
  checkpoint?: string;
}

const ROOT_USER = Deno.uid() === 0;
const LINUX = Deno.build.os === "linux";

/** Builds the shared inputs in `dir`: a tiny checkpoint, its damaged variants, data files. */
async function inputs(dir: string): Promise<void> {
  const good = `${dir}/good`;
  await tinyCheckpoint(good, {
    context: 32,
    seed: 9,
    optimizer: true,
    state: { stage: "pretrain", step: 3 },
  });
  const model = await Deno.readFile(`${good}/model.safetensors`);
  const cfg = await Deno.readTextFile(`${good}/config.json`);
  const variant = async (name: string, file: string, data: Uint8Array | string) => {
    await Deno.mkdir(`${dir}/${name}`);
    for (const e of Deno.readDirSync(good)) {
      await Deno.copyFile(`${good}/${e.name}`, `${dir}/${name}/${e.name}`);
    }
    if (typeof data === "string") await Deno.writeTextFile(`${dir}/${name}/${file}`, data);
    else await Deno.writeFile(`${dir}/${name}/${file}`, data);
  };
  await variant("truncated", "model.safetensors", model.slice(0, model.length - 100));
  const header = Number(new DataView(model.buffer).getBigUint64(0, true));
  const lying = encodeSafetensors(decodeSafetensors(model, "m").tensors);
  const text = new TextDecoder().decode(lying.subarray(8, 8 + header));
  lying.set(new TextEncoder().encode(text.replace('"data_offsets":[0,', '"data_offsets":[4,')), 8);
  await variant("lying", "model.safetensors", lying);
  const nan = decodeSafetensors(model, "m").tensors;
  (nan.get("transformer.wte.weight")!.data as Float32Array)[3 * 32 + 5] = NaN;
  await variant("nan", "model.safetensors", encodeSafetensors(nan));
  await variant("nokeys", "config.json", '{"n_layer": 1, "n_head": 2}');
  await variant("wrongtype", "config.json", cfg.replace('"n_embd": 32', '"n_embd": "32"'));
  await variant("vocab", "tokenizer.json", JSON.stringify(buildTokenizer("gpt2").spec));
  await Deno.writeTextFile(`${dir}/file`, "a file, not a folder\n");
  await Deno.writeFile(`${dir}/corrupt.gz`, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]));
  await Deno.writeTextFile(`${dir}/data.jsonl`, '{"prompt": "Hi", "completion": "Hello"}\n');
  await Deno.writeTextFile(`${dir}/blank.jsonl`, "\n  \n\n");
  // hh-rlhf pairs whose two replies are the same are skipped: nothing is left.
  const same = "\n\nHuman: Hi\n\nAssistant: Hello";
  await Deno.writeTextFile(
    `${dir}/same.jsonl`,
    `${JSON.stringify({ chosen: same, rejected: same })}\n`.repeat(3),
  );
}

/** The rows every stage shares: flags and output folders. */
export function common(extra: Row[]): Row[] {
  return [
    { args: ["--bogus", "1"], pattern: /unknown flag --bogus: see --help/ },
    { args: ["--lr", "0"], pattern: /--lr must be > 0, got 0$/ },
    { args: ["--lr", "-0.5"], pattern: /--lr must be > 0, got -0\.5$/ },
    { args: ["--lr", "NaN"], pattern: /--lr must be a number, got "NaN"$/ },
    { args: ["--batch", "0"], pattern: /--batch must be >= 1, got 0$/ },
    { args: ["--seed", "1.5"], pattern: /--seed must be an integer, got 1\.5$/ },
    { args: ["--out"], pattern: /--out needs a value: see --help/ },
    {
      args: ["--out", "$IN/file/out"],
      pattern: /--out \S+\/file\/out: \S+\/file is not a directory: choose another --out$/,
    },
    ...(LINUX
      ? [{
        args: ["--out", "/proc/instructgpu-test/out"],
        pattern: /--out \/proc\/instructgpu-test\/out: cannot write to \/proc .*choose another/,
      }]
      : []),
    ...(ROOT_USER ? [] : [{
      args: ["--out", "$OUT/read-only/out"],
      pattern: /cannot write to \S+\/read-only \(.*\): choose another --out$/,
      checkpoint: "read-only",
    }]),
    ...extra,
  ];
}

/** The rows of damaged `--init` (or resumed) checkpoints. */
export function damaged(flag: string, dir: (name: string) => string): Row[] {
  return [
    {
      args: [flag, dir("truncated")],
      pattern: /model\.safetensors: tensor \S+ has data offsets \[\d+,\d+\] outside the data/,
    },
    {
      args: [flag, dir("lying")],
      pattern:
        /model\.safetensors: tensor \S+: \d+ bytes for shape \[[\d,]+\]: the file is damaged/,
    },
    {
      args: [flag, dir("nan")],
      pattern: /model\.safetensors: tensor transformer\.wte\.weight holds NaN at index \[3, 5\]/,
    },
    { args: [flag, dir("nokeys")], pattern: /config\.json.*vocab_size/ },
    { args: [flag, dir("wrongtype")], pattern: /config\.json.*n_embd/ },
    { args: [flag, dir("vocab")], pattern: /50257 ids but the model's vocabulary is 257/ },
  ];
}

/** Runs the rows of one stage; returns a line per failed row. */
export async function sweep(script: string, base: string[], rows: Row[]): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/in`);
    await inputs(`${dir}/in`);
    const results = await pool(rows.map((row, i) => ({ row, i })), 2, async ({ row, i }) => {
      const own = `${dir}/row${i}`;
      await Deno.mkdir(own);
      if (row.checkpoint === "read-only") await Deno.mkdir(`${own}/read-only`, { mode: 0o555 });
      else if (row.checkpoint) {
        await Deno.mkdir(`${own}/o`);
        await Deno.mkdir(`${own}/o/c`);
        for (const e of Deno.readDirSync(`${dir}/in/${row.checkpoint}`)) {
          await Deno.copyFile(`${dir}/in/${row.checkpoint}/${e.name}`, `${own}/o/c/${e.name}`);
        }
      }
      const fill = (a: string) => a.replaceAll("$IN", `${dir}/in`).replaceAll("$OUT", own);
      const before = listTree(own);
      const r = await runScript(script, [
        ...base.map(fill),
        "--out",
        `${own}/o/c`,
        ...row.args.map(fill),
      ]);
      const what = `${script} ${row.args.join(" ")}`;
      const bad = refusal(r, row.pattern);
      if (bad) return `${what}: ${bad}`;
      const after = listTree(own);
      return after.join() !== before.join() ? `${what}: left ${after.join(", ")}` : undefined;
    });
    return results.filter((r): r is string => r !== undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
