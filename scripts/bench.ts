/**
 * Training-step throughput of our WebGPU GPT against peers, in the same run, from the same initial
 * weights on the same batches.
 *
 *     deno task bench                      # the small config: vocab 512, 4 layers, 4 heads,
 *                                          # width 256, context 128, batch 8; PyTorch peer
 *     deno task bench --peers all          # + the WebGPU peers jax-js and TensorFlow.js
 *     deno task bench --gpt2               # GPT-2 124M: vocab 50257, 12 layers, 12 heads,
 *                                          # width 768, context 1024, batch 8
 *     deno task bench --json               # one JSON object instead of the table
 *     deno task bench --decode             # generation instead: scripts/bench_decode.ts
 *
 * A step is forward + backward + clip + AdamW. Ours and every peer first train 10 steps on batches
 * 0..9 and report those losses, which must agree with ours (same weights, same data, same
 * optimizer) before the timed steps count. Every side times `--rounds` rounds of `--steps` steps
 * and reports its median round (single runs on a small shared machine vary by 10-30%). The PyTorch peer (scripts/bench_torch.py) runs where a
 * Python with torch is found (Debian's python3-torch: /usr/bin/python3); on a machine with CUDA it
 * trains on the GPU in float32 with TF32 off, and again in bfloat16 autocast for context. The
 * WebGPU peers (scripts/peers/jax.ts, scripts/peers/tfjs.ts) load their npm packages only here.
 *
 * @module
 */
import { fmtBytes, getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { type GptConfig, parameterCount } from "../model/config.ts";
import { type AttentionMode, Gpt } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { toHf } from "../model/checkpoint.ts";
import { encodeSafetensors } from "../model/safetensors.ts";
import { gpuVariant, hasSubgroupKernels } from "../kernels/matmul.ts";
import { BMM_SETTINGS, bmmTuning, parseKernelSpec } from "../kernels/bmm.ts";
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";
import { ATTENTION_FLAG } from "../stages/flags.ts";
import { median } from "./_bench_peer.ts";
import { findTorchPython, hasCuda, runPeer, slowBlas } from "./_bench_torch.ts";
import { benchDecode } from "./bench_decode.ts";

const USAGE =
  "Usage: deno task bench [--gpt2] [--peers torch,jax,tfjs|all|none] [--json] [options] " +
  "(--decode: the decode benchmark)";
/** The `--gemm` flag of the benchmark and the profiler. */
export const GEMM_FLAG = {
  default: "default",
  help: "GPU matrix-product kernel: wide (128x128 tiles; settings after colons, e.g. " +
    "wide:nopf:bk8, see scripts/bench_gemm.ts), tiled (64x64) or default",
};

/** The `--fuse-gelu` flag of the benchmark and the profiler (see `GraphOptions.fuseGelu`). */
export const FUSE_GELU_FLAG = {
  default: false,
  help: "Run the MLP's GELU inside its matrix products (forward and input gradient)",
};

/** Makes `spec` (a `--gemm` value) the GPU matrix-product kernel; throws a UsageError if unknown. */
export function useGemm(spec: string): void {
  if (spec === "default") return;
  const parsed = parseKernelSpec(spec, ["wide", "tiled"]);
  if (!parsed) {
    throw new UsageError(
      `--gemm: unknown kernel "${spec}"; use default, tiled, wide, or wide with settings ` +
        `after colons (${Object.keys(BMM_SETTINGS).join(", ")})`,
    );
  }
  gpuVariant.value = parsed.variant as "wide" | "tiled";
  Object.assign(bmmTuning, parsed.tuning);
}

/** The benchmark's model and batch: the small config (also used by scripts/profile.ts). */
export const BENCH_MODEL_FLAGS = {
  vocab: { default: 512, help: "Vocabulary size", min: 2, int: true },
  layers: { default: 4, help: "Transformer blocks", min: 1, int: true },
  heads: { default: 4, help: "Attention heads", min: 1, int: true },
  width: { default: 256, help: "Channels", min: 1, int: true },
  context: { default: 128, help: "Sequence length", min: 2, int: true },
  batch: { default: 8, help: "Sequences per step", min: 1, int: true },
};

/** GPT-2 124M, the GPU benchmark (`--gpt2`): defaults of the model flags, which still override. */
const GPT2 = { vocab: 50257, layers: 12, heads: 12, width: 768, context: 1024, batch: 8 };

/** Steps whose losses every peer must reproduce before timing. */
const CHECK_STEPS = 10;

function flagsFor(gpt2: boolean) {
  const model = Object.fromEntries(
    Object.entries(BENCH_MODEL_FLAGS).map(([k, spec]) => [
      k,
      { ...spec, default: gpt2 ? GPT2[k as keyof typeof GPT2] : spec.default },
    ]),
  ) as typeof BENCH_MODEL_FLAGS;
  return {
    ...model,
    gpt2: { default: false, help: "GPT-2 124M shape (vocab 50257, 12 x 768, context 1024)" },
    steps: { default: 10, help: "Timed steps", min: 1, int: true },
    warmup: { default: 2, help: "Untimed steps after the loss check", min: 0, int: true },
    rounds: {
      default: 3,
      help: "Timed rounds of --steps steps, ours and every peer's (the median round counts)",
      min: 1,
      int: true,
    },
    peers: {
      default: "torch",
      help: "Peers to run: torch, jax, tfjs (comma-separated), all, or none",
    },
    gemm: GEMM_FLAG,
    attention: ATTENTION_FLAG,
    "fuse-gelu": FUSE_GELU_FLAG,
    python: {
      default: "",
      help: "Python with torch for the peer (default: /usr/bin/python3, then python3)",
    },
    "torch-device": {
      default: "auto",
      help: "PyTorch peer device: auto (CUDA with a GPU adapter, if torch has it), cpu, cuda",
      choices: ["auto", "cpu", "cuda"],
    },
    json: { default: false, help: "Print one JSON object instead of a table" },
  };
}

/** One peer's result line (see scripts/bench_torch.py and the WebGPU peers). */
interface PeerResult {
  name: string;
  tokens_per_s: number;
  losses?: number[];
  torch?: string;
  version?: string;
  threads?: number;
  device?: string;
  dtype?: string;
  adapter?: string;
  blas?: string;
  rounds_tokens_per_s?: number[];
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

if (import.meta.main) {
  await runMain(async () => {
    if (Deno.args.includes("--decode")) return await benchDecode(Deno.args);
    const f = parseFlags(Deno.args, flagsFor(Deno.args.includes("--gpt2")), USAGE);
    const peerNames = f.peers === "all"
      ? ["torch", "jax", "tfjs"]
      : f.peers === "none"
      ? []
      : f.peers.split(",").map((s) => s.trim()).filter(Boolean);
    for (const p of peerNames) {
      if (!["torch", "jax", "tfjs"].includes(p)) {
        throw new UsageError(`--peers: unknown peer "${p}"; use torch, jax, tfjs, all or none`);
      }
    }
    useGemm(f.gemm);
    const config: GptConfig = {
      vocabSize: f.vocab,
      context: f.context,
      layers: f.layers,
      heads: f.heads,
      width: f.width,
    };
    const B = f.batch, T = f.context;
    const hyper = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };
    const rng = new Rng(1);
    const batches = Array.from({ length: CHECK_STEPS }, () => {
      const inputs = new Uint32Array(B * T), targets = new Uint32Array(B * T);
      for (let i = 0; i < B * T; i++) {
        inputs[i] = rng.int(f.vocab);
        targets[i] = rng.int(f.vocab);
      }
      return { inputs, targets };
    });

    const gpu = await getGpu();
    const gpt = Gpt.create(gpu, config, { seed: 1 });
    // What the peers need: the initial weights, the batches and the settings.
    const dir = await Deno.makeTempDir({ prefix: "instructgpu-bench-" });
    try {
      await Deno.writeFile(
        `${dir}/model.safetensors`,
        encodeSafetensors(toHf(config, await gpt.readParameters())),
      );
      const flat = new Uint32Array(CHECK_STEPS * 2 * B * T);
      batches.forEach((b, k) => {
        flat.set(b.inputs, 2 * k * B * T);
        flat.set(b.targets, (2 * k + 1) * B * T);
      });
      await Deno.writeFile(`${dir}/batches.bin`, new Uint8Array(flat.buffer));
      await Deno.writeTextFile(
        `${dir}/config.json`,
        JSON.stringify({
          vocab: f.vocab,
          layers: f.layers,
          heads: f.heads,
          width: f.width,
          context: f.context,
          batch: B,
          ...hyper,
          steps: f.steps,
          warmup: f.warmup,
          rounds: f.rounds,
        }),
      );

      const trainer = new Trainer(gpt, {
        B,
        T,
        attention: f.attention as AttentionMode,
        fuseGelu: f["fuse-gelu"],
      });
      await trainer.ready();
      // The loss check: 10 steps, each loss read back (these are the warm-up as well).
      const losses: number[] = [];
      for (const b of batches) losses.push((await trainer.submit([b], hyper)).loss);
      for (let i = 0; i < f.warmup; i++) await trainer.submit([batches[i % CHECK_STEPS]], hyper);
      // Pipelined as in training: submit step k, then wait for step k-1.
      const rounds: number[] = [];
      for (let r = 0; r < f.rounds; r++) {
        const t0 = performance.now();
        let pending = trainer.submit([batches[0]], hyper);
        for (let i = 1; i < f.steps; i++) {
          const next = trainer.submit([batches[i % CHECK_STEPS]], hyper);
          await pending;
          pending = next;
        }
        await pending;
        rounds.push((performance.now() - t0) / 1000);
      }
      const seconds = median(rounds);
      const ours = (f.steps * B * T) / seconds;
      const g = trainer.graph;
      const dispatches = g.forward.length + g.trainLoss.length + g.backward.length +
        trainer.optimizerDispatches;
      // matmuls (6 per parameter per token) + causal attention (half of 12 L C T)
      const flopsPerToken = 6 * parameterCount(config) + 6 * f.layers * f.width * T;
      const memory = {
        parameters: gpt.params.byteLength,
        gradients: gpt.grads.byteLength,
        optimizer: trainer.m.byteLength + trainer.v.byteLength,
        activations: g.acts.byteLength + (g.dacts?.byteLength ?? 0) + g.io.byteLength,
      };
      trainer.destroy();
      gpt.destroy();

      // Peers, one after another (each alone on the machine).
      const peers: PeerResult[] = [];
      const failures: string[] = [];
      const add = (r: PeerResult | string) =>
        typeof r === "string" ? failures.push(r) : peers.push(r);
      const here = (file: string) => new URL(`./${file}`, import.meta.url).pathname;
      for (const name of peerNames) {
        if (name === "torch") {
          const py = await findTorchPython(f.python);
          if (!py) {
            failures.push(
              "pytorch not run (no Python with torch: apt-get install -y python3-torch)",
            );
            continue;
          }
          const device = f["torch-device"];
          const cuda = device === "cuda" ||
            (device === "auto" && gpu.isCpu === false && await hasCuda(py));
          if (cuda) {
            add(
              await runPeer<PeerResult>("pytorch-cuda", py, [
                here("bench_torch.py"),
                "--dir",
                dir,
                "--device",
                "cuda",
              ]),
            );
            add(
              await runPeer<PeerResult>("pytorch-cuda-bf16", py, [
                here("bench_torch.py"),
                "--dir",
                dir,
                "--device",
                "cuda",
                "--dtype",
                "bf16",
              ]),
            );
          } else {
            // One thread and all cores; the faster counts (on a small or busy machine OpenBLAS's
            // extra threads can cost more than they give).
            let best: PeerResult | undefined;
            for (const threads of new Set([1, navigator.hardwareConcurrency])) {
              const r = await runPeer<PeerResult>("pytorch-cpu", py, [
                here("bench_torch.py"),
                "--dir",
                dir,
                "--threads",
                String(threads),
              ]);
              if (typeof r === "string") failures.push(r);
              else if (!best || r.tokens_per_s > best.tokens_per_s) best = r;
            }
            if (best) peers.push(best);
          }
        } else {
          // --no-lock: the peers' npm packages stay out of the project's lockfile
          const file = name === "jax" ? "peers/jax.ts" : "peers/tfjs.ts";
          add(
            await runPeer<PeerResult>(name, Deno.execPath(), [
              "run",
              "-A",
              "--no-lock",
              here(file),
              "--dir",
              dir,
            ]),
          );
        }
      }

      const rows = peers.map((p) => {
        const diff = p.losses
          ? Math.max(...p.losses.slice(0, CHECK_STEPS).map((l, i) => Math.abs(l - losses[i])))
          : NaN;
        // float32 peers must agree closely; a bfloat16 peer is reported with its difference
        const tolerance = String(p.dtype ?? "fp32") === "bf16" ? 5e-2 : 2e-3;
        // a CPU peer on the reference BLAS is about 20x too slow: its ratio does not count
        const invalid = p.name === "pytorch-cpu" ? slowBlas(p.blas) : undefined;
        if (invalid) failures.push(`INVALID  ${invalid}`);
        return {
          ...p,
          max_loss_diff: round(diff, 6),
          losses_match: diff <= tolerance,
          ratio: invalid ? null : round(ours / p.tokens_per_s, 3),
          ...(invalid ? { invalid } : {}),
        };
      });
      const result = {
        config: { ...config, batch: B },
        adapter: gpu.name,
        backend: gpu.backend,
        gemm: gpu.isCpu ? "cpu" : f.gemm === "default" ? gpuVariant.value : f.gemm,
        attention: f.attention,
        gelu: f["fuse-gelu"] ? "fused" : "separate",
        // what the adapter offers and what the device got (subgroups: lavapipe grants them unlisted)
        adapter_features: [...gpu.adapter.features].sort(),
        device_features: [...gpu.device.features].sort(),
        subgroup_sizes: [gpu.adapter.info.subgroupMinSize, gpu.adapter.info.subgroupMaxSize],
        ours_tokens_per_s: round(ours, 1),
        ours_rounds_tokens_per_s: rounds.map((t) => round((f.steps * B * T) / t, 1)),
        ours_ms_per_step: round((seconds / f.steps) * 1000, 1),
        ours_gflops: round((ours * flopsPerToken) / 1e9, 2),
        dispatches_per_step: dispatches,
        memory_bytes: memory,
        losses: losses.map((l) => round(l, 6)),
        peers: rows,
        failures,
        // the first float32 PyTorch peer, as before
        ratio: rows.find((r) => String(r.name).startsWith("pytorch") && r.dtype !== "bf16")
          ?.ratio ?? null,
      };
      if (f.json) {
        console.log(JSON.stringify(result));
        return;
      }
      const total = Object.values(memory).reduce((a, b) => a + b, 0);
      console.log(
        `config   vocab ${f.vocab}, ${f.layers} layers, ${f.heads} heads, width ${f.width}, ` +
          `context ${T}, batch ${B} (${(parameterCount(config) / 1e6).toFixed(2)}M params)`,
      );
      console.log(
        `adapter  ${gpu.name} (${gpu.backend})${gpu.isCpu ? "" : `, gemm ${result.gemm}`}, ` +
          `${f.attention} attention${f["fuse-gelu"] ? ", GELU fused into the products" : ""}`,
      );
      console.log(
        `features ${result.device_features.join(", ") || "none"} (subgroups of ` +
          `${result.subgroup_sizes.join("-")}; used: ` +
          `${hasSubgroupKernels(gpu) ? "subgroups in the CPU products and attention" : "none"})`,
      );
      console.log(
        `ours     ${result.ours_tokens_per_s} tokens/s, ${result.ours_ms_per_step} ms/step, ` +
          `${result.ours_gflops} GFLOP/s, ${dispatches} dispatches/step`,
      );
      console.log(
        `rounds   median of ${f.rounds} rounds of ${f.steps} steps, every side; ours ` +
          result.ours_rounds_tokens_per_s.join(", ") + " tokens/s",
      );
      console.log(
        `memory   ${fmtBytes(total)}: parameters ${fmtBytes(memory.parameters)}, gradients ` +
          `${fmtBytes(memory.gradients)}, AdamW ${fmtBytes(memory.optimizer)}, activations ` +
          `${fmtBytes(memory.activations)}`,
      );
      console.log(`losses   ${losses.map((l) => l.toFixed(4)).join(" ")}`);
      for (const r of rows) {
        const what = [
          r.torch ? `torch ${r.torch}` : r.version,
          r.threads ? `${r.threads} threads` : "",
          r.device ?? "",
        ]
          .filter(Boolean).join(", ");
        const spread = r.rounds_tokens_per_s?.length
          ? ` [rounds ${r.rounds_tokens_per_s.join(", ")}]`
          : "";
        console.log(
          `${String(r.name).padEnd(8)} ${round(r.tokens_per_s, 1)} tokens/s${spread} (${what}); ` +
            `ours/peer ${r.ratio === null ? "INVALID (see below)" : `${r.ratio}x`}; ` +
            `losses ${r.losses_match ? "match" : "DIFFER"} ` +
            `(max diff ${r.max_loss_diff})`,
        );
      }
      for (const msg of failures) console.log(`note     ${msg}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
