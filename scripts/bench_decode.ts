/**
 * Generation throughput: our KV-cache decoder against PyTorch's KV-cache greedy decoding of the
 * same weights (scripts/bench_torch_decode.py), in the same run.
 *
 *     deno task bench --decode                 # a random model: vocab 512, 4 layers, 4 heads,
 *                                              # width 256, context 256; batch 1 and 64
 *     deno task bench --decode --checkpoint DIR
 *     deno task bench --decode --rollout checkpoints/sft   # + the PPO rollout phase
 *     deno task bench --decode --json
 *
 * Each batch decodes `--tokens` new tokens greedily after prompts of `--prompt` random ids, the
 * prompts' forward pass included, `--rounds` times after one warm-up (the median round counts).
 * PyTorch's greedy tokens must equal ours before its speed counts, and a CPU peer must run on an
 * optimised BLAS (scripts/_bench_torch.ts). The random model's weights are larger than GPT-2's
 * initialisation (std `--std`), so that its logits are far from ties that rounding could break
 * apart. `--rollout DIR` also times the rollout phase of one PPO step at the pipeline's defaults (8
 * prompts of the instruction world, up to 72 new tokens, temperature 1, end-of-text) with DIR's
 * model: the decoder as it runs, and with one readback per token.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { formatPrompt } from "../data/template.ts";
import { generateWorld } from "../data/world/mod.ts";
import type { GptConfig } from "../model/config.ts";
import { loadModel, toHf } from "../model/checkpoint.ts";
import { Decoder } from "../model/decode.ts";
import { Gpt, initialParameters } from "../model/gpt.ts";
import { encodeSafetensors } from "../model/safetensors.ts";
import { parseFlags, UsageError } from "../stages/cli.ts";
import { median } from "./_bench_peer.ts";
import { findTorchPython, hasCuda, runPeer, slowBlas } from "./_bench_torch.ts";

const USAGE = "Usage: deno task bench --decode [--checkpoint DIR] [--rollout DIR] [--json]";
const FLAGS = {
  decode: { default: true, help: "The decode benchmark (this one)" },
  checkpoint: { default: "", help: "Checkpoint to decode with (default: a random model)" },
  vocab: { default: 512, help: "Random model: vocabulary size", min: 2, int: true },
  layers: { default: 4, help: "Random model: transformer blocks", min: 1, int: true },
  heads: { default: 4, help: "Random model: attention heads", min: 1, int: true },
  width: { default: 256, help: "Random model: channels", min: 1, int: true },
  context: { default: 256, help: "Random model: context", min: 2, int: true },
  std: { default: 0.1, help: "Random model: standard deviation of the weights", min: 0 },
  batches: { default: "1,64", help: "Batch sizes, comma-separated" },
  prompt: { default: 16, help: "Prompt tokens per row", min: 1, int: true },
  tokens: { default: 128, help: "New tokens per row", min: 1, int: true },
  rounds: { default: 3, help: "Timed rounds per side (the median counts)", min: 1, int: true },
  rollout: { default: "", help: "Checkpoint whose PPO rollout phase is timed too" },
  python: { default: "", help: "Python with torch (default: /usr/bin/python3, then python3)" },
  "torch-device": {
    default: "auto",
    help: "PyTorch peer device: auto (CUDA with a GPU adapter, if torch has it), cpu, cuda",
    choices: ["auto", "cpu", "cuda"],
  },
  json: { default: false, help: "Print one JSON object instead of a table" },
};

/** The decode peer's result line (scripts/bench_torch_decode.py). */
interface TorchDecode {
  name: string;
  torch: string;
  threads: number | null;
  blas: string;
  tokens_per_s: number;
  rounds_tokens_per_s: number[];
  tokens: number[][];
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A random model whose logits are far from ties (see the module's doc). */
function randomModel(gpu: Awaited<ReturnType<typeof getGpu>>, config: GptConfig, std: number) {
  const values = initialParameters(config, 1);
  const rng = new Rng(2);
  for (const [name, v] of values) {
    if (v.length > 1 && !name.includes("ln_")) values.set(name, rng.normalArray(v.length, std));
  }
  return Gpt.create(gpu, config, { values });
}

/** Seconds of `rounds` timed runs of `run` after one warm-up; returns the warm-up's value too. */
async function timed<T>(rounds: number, run: () => Promise<T>): Promise<[T, number[]]> {
  const first = await run();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  return [first, times];
}

/** Runs the decode benchmark with these command-line arguments. */
export async function benchDecode(args: string[]): Promise<void> {
  const f = parseFlags(args, FLAGS, USAGE);
  const batches = f.batches.split(",").map((s) => Number(s.trim()));
  if (batches.some((b) => !Number.isInteger(b) || b < 1)) {
    throw new UsageError(`--batches: "${f.batches}" must be positive integers, comma-separated`);
  }
  const gpu = await getGpu();
  const gpt = f.checkpoint ? (await loadModel(gpu, f.checkpoint)).gpt : randomModel(gpu, {
    vocabSize: f.vocab,
    context: f.context,
    layers: f.layers,
    heads: f.heads,
    width: f.width,
  }, f.std);
  const config = gpt.config;
  if (f.prompt + f.tokens > config.context) {
    gpt.destroy();
    throw new UsageError(
      `--prompt ${f.prompt} + --tokens ${f.tokens} exceed the context (${config.context})`,
    );
  }
  const py = await findTorchPython(f.python);
  const cuda = py !== undefined && (f["torch-device"] === "cuda" ||
    (f["torch-device"] === "auto" && !gpu.isCpu && await hasCuda(py)));
  const failures: string[] = [];
  if (!py) {
    failures.push("pytorch not run (no Python with torch: apt-get install -y python3-torch)");
  }
  const dir = await Deno.makeTempDir({ prefix: "instructgpu-bench-decode-" });
  const rows = [];
  try {
    await Deno.writeFile(
      `${dir}/model.safetensors`,
      encodeSafetensors(toHf(config, await gpt.readParameters())),
    );
    const here = (file: string) => new URL(`./${file}`, import.meta.url).pathname;
    for (const B of batches) {
      const rng = new Rng(B);
      const prompts = Array.from(
        { length: B },
        () => Array.from({ length: f.prompt }, () => rng.int(config.vocabSize)),
      );
      const decoder = new Decoder(gpt, { rows: B });
      await decoder.ready();
      const [out, times] = await timed(
        f.rounds,
        () => decoder.generate(prompts, { maxTokens: f.tokens, temperature: 0 }),
      );
      decoder.destroy();
      const n = B * f.tokens;
      const ours = n / median(times);
      let peer: TorchDecode | undefined;
      if (py) {
        await Deno.writeTextFile(
          `${dir}/config.json`,
          JSON.stringify({
            layers: config.layers,
            heads: config.heads,
            context: config.context,
            batch: B,
            prompt: f.prompt,
            new_tokens: f.tokens,
            rounds: f.rounds,
          }),
        );
        await Deno.writeFile(
          `${dir}/prompts.bin`,
          new Uint8Array(Uint32Array.from(prompts.flat()).buffer),
        );
        // On the CPU, one thread and all cores; the faster counts (as the training benchmark).
        const threads = cuda ? [0] : [...new Set([1, navigator.hardwareConcurrency])];
        for (const t of threads) {
          const r = await runPeer<TorchDecode>("pytorch", py, [
            here("bench_torch_decode.py"),
            "--dir",
            dir,
            "--threads",
            String(t),
            "--device",
            cuda ? "cuda" : "cpu",
          ]);
          if (typeof r === "string") failures.push(r);
          else if (!peer || r.tokens_per_s > peer.tokens_per_s) peer = r;
        }
      }
      const rowsDiffering = peer
        ? out.tokens.filter((t, b) => t.join() !== peer!.tokens[b]?.join()).length
        : null;
      const invalid = peer && !cuda ? slowBlas(peer.blas) : undefined;
      if (invalid) failures.push(`INVALID  batch ${B}: ${invalid}`);
      if (rowsDiffering) {
        failures.push(`batch ${B}: ${rowsDiffering} of ${B} rows' greedy tokens differ: no ratio`);
      }
      const counts = peer !== undefined && rowsDiffering === 0 && !invalid;
      rows.push({
        batch: B,
        prompt_tokens: f.prompt,
        new_tokens: f.tokens,
        ours_tokens_per_s: round(ours, 1),
        ours_rounds_tokens_per_s: times.map((t) => round(n / t, 1)),
        torch_tokens_per_s: peer?.tokens_per_s ?? null,
        torch_rounds_tokens_per_s: peer?.rounds_tokens_per_s ?? null,
        tokens_match: peer ? rowsDiffering === 0 : null,
        ratio: counts ? round(ours / peer!.tokens_per_s, 3) : null,
        torch: peer
          ? { name: peer.name, version: peer.torch, threads: peer.threads, blas: peer.blas }
          : null,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    gpt.destroy();
  }
  const rollout = f.rollout ? await rolloutPhase(f.rollout, f.rounds) : undefined;
  const result = {
    model: f.checkpoint || "random",
    config,
    adapter: gpu.name,
    backend: gpu.backend,
    batches: rows,
    ...(rollout ? { rollout } : {}),
    failures,
  };
  if (f.json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(
    `model    ${result.model}: vocab ${config.vocabSize}, ${config.layers} layers, ` +
      `${config.heads} heads, width ${config.width}, context ${config.context}`,
  );
  console.log(
    `adapter  ${gpu.name} (${gpu.backend}); greedy, ${f.prompt} prompt + ${f.tokens} new tokens per row`,
  );
  for (const r of rows) {
    console.log(
      `batch ${String(r.batch).padEnd(3)} ours ${r.ours_tokens_per_s} tokens/s ` +
        `[rounds ${r.ours_rounds_tokens_per_s.join(", ")}]; torch ${r.torch_tokens_per_s ?? "-"} ` +
        `tokens/s [rounds ${r.torch_rounds_tokens_per_s?.join(", ") ?? "-"}]; ours/torch ` +
        `${r.ratio ?? "not counted"}; tokens ${
          r.tokens_match === null ? "-" : r.tokens_match ? "match" : "DIFFER"
        }`,
    );
  }
  if (rollout) {
    console.log(
      `rollout  ${rollout.prompts} prompts, <= ${rollout.max_tokens} tokens, temperature 1: ` +
        `${rollout.ms} ms median [${rollout.rounds_ms.join(", ")}]; one readback per token ` +
        `${rollout.per_token_ms} ms [${rollout.per_token_rounds_ms.join(", ")}]; ` +
        `${rollout.speedup}x`,
    );
  }
  for (const msg of failures) console.log(`note     ${msg}`);
}

/**
 * The rollout phase of PPO steps at the pipeline's defaults with checkpoint `dir`'s model: the
 * decoder as it runs, and with one readback per token; median milliseconds per rollout batch.
 */
async function rolloutPhase(dir: string, rounds: number) {
  const gpu = await getGpu();
  const { gpt, tokenizer } = await loadModel(gpu, dir);
  const world = generateWorld({ seed: 1, proseParagraphs: 0 });
  const texts = [...new Set(world.instructions.map((p) => p.prompt))];
  const all = texts.map((t) => tokenizer.encode(formatPrompt(t)).slice(-(gpt.config.context - 8)));
  const B = 8, maxTokens = 72;
  const decoder = new Decoder(gpt, { rows: B });
  await decoder.ready();
  const rng = new Rng(1);
  const ms: Record<"batch" | "token", number[]> = { batch: [], token: [] };
  for (let r = 0; r <= rounds; r++) {
    const prompts = Array.from({ length: B }, () => all[rng.int(all.length)]);
    const seed = rng.nextU32();
    for (const [key, tokensPerSubmit] of [["batch", maxTokens], ["token", 1]] as const) {
      const t0 = performance.now();
      await decoder.generate(prompts, {
        maxTokens,
        temperature: 1,
        seed,
        stopToken: tokenizer.eot,
        tokensPerSubmit,
      });
      if (r > 0) ms[key].push(Math.round(performance.now() - t0)); // the first round warms up
    }
  }
  decoder.destroy();
  gpt.destroy();
  return {
    checkpoint: dir,
    prompts: B,
    max_tokens: maxTokens,
    ms: median(ms.batch),
    rounds_ms: ms.batch,
    per_token_ms: median(ms.token),
    per_token_rounds_ms: ms.token,
    speedup: round(median(ms.token) / median(ms.batch), 2),
  };
}
