/**
 * Shared pieces of the WebGPU peers of the training benchmark (scripts/peers/jax.ts,
 * scripts/peers/tfjs.ts): the benchmark directory they read, their command line, the AdamW
 * per-step scalars, and their one-line JSON result.
 *
 * A benchmark directory holds
 * - `config.json`: `{vocab, layers, heads, width, context, batch, lr, beta1, beta2, eps,
 *   weightDecay, gradClip, steps, warmup}`,
 * - `model.safetensors`: the initial weights, Hugging Face GPT-2 names and layouts (Conv1D
 *   matrices (in, out); the LM head tied to `transformer.wte.weight`),
 * - `batches.bin`: little-endian u32, for each batch the inputs (B·T) then the targets (B·T).
 *
 * Run as a script, it writes such a directory from our model and trains our Trainer on it, printing
 * our first losses (the reference the peers must match):
 *
 *     deno run -A scripts/_bench_peer.ts --dir /tmp/bench [--vocab 512 --layers 4 ...]
 *
 * @module
 */
import { parseArgs } from "node:util";
export { ensureRuntimeDir } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import type { GptConfig } from "../model/config.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "../model/safetensors.ts";

/** What `config.json` of a benchmark directory holds. */
export interface BenchConfig {
  vocab: number;
  layers: number;
  heads: number;
  width: number;
  context: number;
  batch: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
  /** Timed steps. */
  steps: number;
  /** Untimed steps before the timed ones. */
  warmup: number;
  /** Timed rounds of `steps` steps; the median round counts (default 1). */
  rounds?: number;
}

/** One batch of B·T input ids and their next-token targets. */
export interface BenchBatch {
  inputs: Uint32Array;
  targets: Uint32Array;
}

/** A loaded benchmark directory. */
export interface BenchDir {
  config: BenchConfig;
  /** Initial weights by Hugging Face name, in Hugging Face layout. */
  weights: Map<string, NamedArray>;
  batches: BenchBatch[];
}

/** One GPT-2 parameter: Hugging Face name and layout, and whether AdamW decays it. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** Weight decay applies to the 2-D tensors (matrices and both embeddings) only. */
  decay: boolean;
}

/** Steps whose losses the peers report (and must match ours on). */
export const CHECK_STEPS = 10;

const CONFIG_KEYS: (keyof BenchConfig)[] = [
  "vocab",
  "layers",
  "heads",
  "width",
  "context",
  "batch",
  "lr",
  "beta1",
  "beta2",
  "eps",
  "weightDecay",
  "gradClip",
  "steps",
  "warmup",
];

/** The GPT-2 parameters of a config, in Hugging Face names and layouts. */
export function gpt2Params(c: BenchConfig): ParamSpec[] {
  const C = c.width;
  const out: ParamSpec[] = [
    { name: "transformer.wte.weight", shape: [c.vocab, C], decay: true },
    { name: "transformer.wpe.weight", shape: [c.context, C], decay: true },
  ];
  for (let l = 0; l < c.layers; l++) {
    const h = `transformer.h.${l}.`;
    out.push(
      { name: h + "ln_1.weight", shape: [C], decay: false },
      { name: h + "ln_1.bias", shape: [C], decay: false },
      { name: h + "attn.c_attn.weight", shape: [C, 3 * C], decay: true },
      { name: h + "attn.c_attn.bias", shape: [3 * C], decay: false },
      { name: h + "attn.c_proj.weight", shape: [C, C], decay: true },
      { name: h + "attn.c_proj.bias", shape: [C], decay: false },
      { name: h + "ln_2.weight", shape: [C], decay: false },
      { name: h + "ln_2.bias", shape: [C], decay: false },
      { name: h + "mlp.c_fc.weight", shape: [C, 4 * C], decay: true },
      { name: h + "mlp.c_fc.bias", shape: [4 * C], decay: false },
      { name: h + "mlp.c_proj.weight", shape: [4 * C, C], decay: true },
      { name: h + "mlp.c_proj.bias", shape: [C], decay: false },
    );
  }
  out.push(
    { name: "transformer.ln_f.weight", shape: [C], decay: false },
    { name: "transformer.ln_f.bias", shape: [C], decay: false },
  );
  return out;
}

function checkConfig(raw: unknown, source: string): BenchConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${source} is not a JSON object`);
  }
  const c = raw as Record<string, unknown>;
  for (const k of CONFIG_KEYS) {
    if (typeof c[k] !== "number" || !Number.isFinite(c[k])) {
      throw new Error(`${source}: ${k} must be a finite number, got ${JSON.stringify(c[k])}`);
    }
  }
  const cfg = c as unknown as BenchConfig;
  for (const k of ["vocab", "layers", "heads", "width", "context", "batch", "steps"] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) {
      throw new Error(`${source}: ${k} must be a positive integer, got ${cfg[k]}`);
    }
  }
  if (cfg.rounds !== undefined && (!Number.isInteger(cfg.rounds) || cfg.rounds < 1)) {
    throw new Error(`${source}: rounds must be a positive integer, got ${cfg.rounds}`);
  }
  if (!Number.isInteger(cfg.warmup) || cfg.warmup < 0) {
    throw new Error(`${source}: warmup must be a non-negative integer, got ${cfg.warmup}`);
  }
  if (cfg.width % cfg.heads !== 0) {
    throw new Error(`${source}: heads (${cfg.heads}) must divide width (${cfg.width})`);
  }
  return cfg;
}

/** Reads and checks a benchmark directory. */
export async function readBenchDir(dir: string): Promise<BenchDir> {
  const cfgPath = `${dir}/config.json`;
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(cfgPath));
  } catch (e) {
    throw new Error(`${cfgPath}: ${(e as Error).message}`);
  }
  const config = checkConfig(json, cfgPath);
  const stPath = `${dir}/model.safetensors`;
  const weights = decodeSafetensors(await Deno.readFile(stPath), stPath).tensors;
  for (const p of gpt2Params(config)) {
    const t = weights.get(p.name);
    if (!t || t.dtype !== "F32" || t.shape.join() !== p.shape.join()) {
      throw new Error(
        `${stPath}: tensor ${p.name} is ${t ? `${t.dtype} [${t.shape}]` : "missing"}; ` +
          `config.json needs F32 [${p.shape}]`,
      );
    }
  }
  const binPath = `${dir}/batches.bin`;
  const bytes = await Deno.readFile(binPath);
  const n = config.batch * config.context;
  if (bytes.length === 0 || bytes.length % (8 * n) !== 0) {
    throw new Error(`${binPath}: ${bytes.length} bytes is not a whole number of batches of ${n}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: BenchBatch[] = [];
  for (let k = 0; k < bytes.length / (8 * n); k++) {
    const inputs = new Uint32Array(n), targets = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      inputs[i] = view.getUint32((2 * k * n + i) * 4, true);
      targets[i] = view.getUint32(((2 * k + 1) * n + i) * 4, true);
      if (inputs[i] >= config.vocab || targets[i] >= config.vocab) {
        throw new Error(`${binPath}: batch ${k} has a token id outside the vocabulary`);
      }
    }
    batches.push({ inputs, targets });
  }
  return { config, weights, batches };
}

/**
 * Writes a benchmark directory: `config.json`, the weights (by Hugging Face name, in Hugging Face
 * layout, as model/checkpoint.ts's `toHf` gives them) and the batches.
 */
export async function writeBenchDir(
  dir: string,
  config: BenchConfig,
  weights: Map<string, NamedArray>,
  batches: BenchBatch[],
): Promise<void> {
  checkConfig(config, "config");
  const n = config.batch * config.context;
  const bin = new Uint32Array(2 * n * batches.length);
  batches.forEach((b, k) => {
    if (b.inputs.length !== n || b.targets.length !== n) {
      throw new RangeError(`Batch ${k} holds ${b.inputs.length} tokens; the config needs ${n}`);
    }
    bin.set(b.inputs, 2 * k * n);
    bin.set(b.targets, (2 * k + 1) * n);
  });
  const ordered = new Map<string, NamedArray>();
  for (const p of gpt2Params(config)) {
    const t = weights.get(p.name);
    if (!t) throw new RangeError(`Missing weight ${p.name}`);
    ordered.set(p.name, t);
  }
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(ordered, { format: "pt" }));
  // The file is little-endian; so is every platform Deno runs on.
  await Deno.writeFile(`${dir}/batches.bin`, new Uint8Array(bin.buffer));
}

/** The peers' command line: `--dir D [--steps N] [--warmup W]` (the counts override config.json). */
export function parsePeerArgs(args: string[]): { dir: string; steps?: number; warmup?: number } {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string" },
      steps: { type: "string" },
      warmup: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.dir) throw new Error("--dir is required (a benchmark directory)");
  const count = (flag: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) {
      throw new Error(`--${flag} must be an integer >= ${min}, got ${v}`);
    }
    return x;
  };
  return {
    dir: values.dir,
    steps: count("steps", values.steps, 1),
    warmup: count("warmup", values.warmup, 0),
  };
}

/**
 * AdamW's per-step scalars, computed in float64 as kernels/adamw.ts does: `stepSize` = lr / (1 -
 * beta1^t), `bc2Sqrt` = sqrt(1 - beta2^t). The update (torch.optim.AdamW) is then
 * `p *= 1 - lr·wd (decayed tensors); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
 * p -= stepSize · m / (sqrt(v) / bc2Sqrt + eps)`.
 */
export function adamScalars(c: BenchConfig, step: number): { stepSize: number; bc2Sqrt: number } {
  return {
    stepSize: c.lr / (1 - Math.pow(c.beta1, step)),
    bc2Sqrt: Math.sqrt(1 - Math.pow(c.beta2, step)),
  };
}

/** The description of the default WebGPU adapter (the one the peers' libraries pick). */
export async function defaultAdapterName(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("No WebGPU adapter found");
  return adapter.info.description || adapter.info.vendor || "unknown adapter";
}

/**
 * Records the WebGPU errors that no error scope catches on `device` (the libraries do not listen
 * for them, and a failed dispatch leaves its output unwritten); the returned function throws if
 * there was any.
 */
export function watchDevice(device: GPUDevice): () => void {
  const errors: string[] = [];
  device.addEventListener("uncapturederror", (e) => {
    errors.push((e as GPUUncapturedErrorEvent).error.message);
  });
  return () => {
    if (errors.length > 0) {
      throw new Error(`WebGPU reported ${errors.length} error(s), the first: ${errors[0]}`);
    }
  };
}

/** A peer's result line. */
export interface PeerResult {
  name: string;
  version: string;
  backend: "webgpu";
  adapter: string;
  tokens_per_s: number;
  ms_per_step: number;
  /** Losses of the first {@linkcode CHECK_STEPS} steps. */
  losses: number[];
  /** Timed steps per round. */
  steps: number;
  /** Tokens/s of every timed round (the median is `tokens_per_s`). */
  rounds_tokens_per_s: number[];
}

/** The median of a non-empty list (the upper one of the middle two for an even length). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Wall milliseconds of each of `rounds` rounds of `run`, which trains the timed steps and returns
 * the last step's loss once the device is done. After each round `checkErrors` runs and the loss
 * must be finite.
 */
export async function timeRounds(
  rounds: number,
  checkErrors: () => void,
  run: () => Promise<number>,
): Promise<number[]> {
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const final = await run();
    ms.push(performance.now() - t0);
    checkErrors();
    if (!Number.isFinite(final)) throw new Error(`the loss of the last timed step is ${final}`);
  }
  return ms;
}

/** Builds the result line from the wall time of each timed round of `steps` steps. */
export function peerResult(
  base: Pick<PeerResult, "name" | "version" | "adapter" | "losses">,
  config: BenchConfig,
  steps: number,
  roundsMs: readonly number[],
): PeerResult {
  const tokens = steps * config.batch * config.context;
  const ms = median(roundsMs);
  const rate = (t: number) => Math.round((tokens / (t / 1000)) * 10) / 10;
  return {
    name: base.name,
    version: base.version,
    backend: "webgpu",
    adapter: base.adapter,
    tokens_per_s: rate(ms),
    ms_per_step: Math.round((ms / steps) * 1000) / 1000,
    losses: base.losses,
    steps,
    rounds_tokens_per_s: roundsMs.map(rate),
  };
}

/**
 * Runs a peer: prints its result as one JSON line, or a one-line error on stderr and exits 1.
 * Exits explicitly either way (the libraries may keep the event loop alive).
 */
export async function runPeer(tag: string, main: () => Promise<PeerResult>): Promise<void> {
  let result: PeerResult;
  try {
    result = await main();
    if (!result.losses.every(Number.isFinite)) {
      throw new Error(`non-finite loss in ${JSON.stringify(result.losses)}`);
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`${tag}: ${msg.split("\n")[0]}`);
    Deno.exit(1);
  }
  console.log(JSON.stringify(result));
  Deno.exit(0);
}

/**
 * Learnable batches (so that the losses move): sequences of a Markov chain over the vocabulary in
 * which each token is followed by a fixed successor 90% of the time and by a random token
 * otherwise; the targets are the inputs shifted by one. Deterministic in `seed`.
 */
export function chainBatches(c: BenchConfig, count: number, seed: number): BenchBatch[] {
  const rng = new Rng(seed);
  const succ = Array.from({ length: c.vocab }, () => rng.int(c.vocab));
  const n = c.batch * c.context;
  return Array.from({ length: count }, () => {
    const inputs = new Uint32Array(n), targets = new Uint32Array(n);
    for (let b = 0; b < c.batch; b++) {
      let tok = rng.int(c.vocab);
      for (let t = 0; t < c.context; t++) {
        const next = rng.random() < 0.9 ? succ[tok] : rng.int(c.vocab);
        inputs[b * c.context + t] = tok;
        targets[b * c.context + t] = next;
        tok = next;
      }
    }
    return { inputs, targets };
  });
}

/** Batches of uniformly random ids and targets (as scripts/bench.ts trains on). */
export function randomBatches(c: BenchConfig, count: number, seed: number): BenchBatch[] {
  const rng = new Rng(seed);
  const n = c.batch * c.context;
  return Array.from({ length: count }, () => {
    const inputs = new Uint32Array(n), targets = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      inputs[i] = rng.int(c.vocab);
      targets[i] = rng.int(c.vocab);
    }
    return { inputs, targets };
  });
}

if (import.meta.main) {
  const { parseFlags, runMain } = await import("../stages/cli.ts");
  const { getGpu } = await import("../gpu/device.ts");
  const { Gpt } = await import("../model/gpt.ts");
  const { Trainer } = await import("../model/trainer.ts");
  const { toHf } = await import("../model/checkpoint.ts");
  const { BENCH_MODEL_FLAGS } = await import("./bench.ts");
  await runMain(async () => {
    const f = parseFlags(Deno.args, {
      dir: { default: "", help: "Directory to write (created)" },
      ...BENCH_MODEL_FLAGS,
      lr: { default: 1e-4, help: "AdamW learning rate", min: 0 },
      "weight-decay": { default: 0.1, help: "AdamW weight decay", min: 0 },
      "grad-clip": { default: 1, help: "Global gradient-norm clip (0: none)", min: 0 },
      batches: { default: 10, help: "Batches in batches.bin", min: 1, int: true },
      steps: { default: 10, help: "Timed steps (config.json)", min: 1, int: true },
      warmup: { default: 3, help: "Untimed steps (config.json)", min: 0, int: true },
      seed: { default: 1, help: "Seed of the weights and the batches", min: 0, int: true },
      data: {
        default: "chain",
        help: "Batches: chain (learnable, see chainBatches) or random (random ids and targets)",
        choices: ["chain", "random"],
      },
    }, "Usage: deno run -A scripts/_bench_peer.ts --dir D [options]");
    if (!f.dir) throw new Error("--dir is required");
    const config: BenchConfig = {
      vocab: f.vocab,
      layers: f.layers,
      heads: f.heads,
      width: f.width,
      context: f.context,
      batch: f.batch,
      lr: f.lr,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: f["weight-decay"],
      gradClip: f["grad-clip"],
      steps: f.steps,
      warmup: f.warmup,
    };
    const gptConfig: GptConfig = {
      vocabSize: config.vocab,
      context: config.context,
      layers: config.layers,
      heads: config.heads,
      width: config.width,
    };
    const gpu = await getGpu();
    const gpt = Gpt.create(gpu, gptConfig, { seed: f.seed });
    const batches = f.data === "chain"
      ? chainBatches(config, f.batches, f.seed)
      : randomBatches(config, f.batches, f.seed);
    await writeBenchDir(f.dir, config, toHf(gptConfig, await gpt.readParameters()), batches);
    const trainer = new Trainer(gpt, { B: config.batch, T: config.context });
    await trainer.ready();
    const losses: number[] = [];
    for (let i = 0; i < CHECK_STEPS; i++) {
      losses.push((await trainer.submit([batches[i % batches.length]], config)).loss);
    }
    console.log(JSON.stringify({ name: "instructgpu", adapter: gpu.name, losses }));
  });
}
