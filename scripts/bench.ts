/**
 * Training-step throughput of our WebGPU GPT against PyTorch on the CPU, in the same run.
 *
 *     deno task bench                 # the small config: vocab 512, 4 layers, 4 heads, width 256,
 *                                     # context 128, batch 8
 *     deno task bench --json          # one JSON object: config, ours_tokens_per_s, peer_tokens_per_s, ratio
 *
 * The peer (scripts/bench_torch.py) runs when a Python with torch is found (Debian's
 * python3-torch: /usr/bin/python3). A step is forward + backward + clip + AdamW on random tokens.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { parameterCount } from "../model/config.ts";
import { Gpt } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { parseFlags, runMain } from "../stages/_cli.ts";

const USAGE = "Usage: deno task bench [--json] [options]";
/** The benchmark's model and batch: the small config (also used by scripts/profile.ts). */
export const BENCH_MODEL_FLAGS = {
  vocab: { default: 512, help: "Vocabulary size", min: 2, int: true },
  layers: { default: 4, help: "Transformer blocks", min: 1, int: true },
  heads: { default: 4, help: "Attention heads", min: 1, int: true },
  width: { default: 256, help: "Channels", min: 1, int: true },
  context: { default: 128, help: "Sequence length", min: 2, int: true },
  batch: { default: 8, help: "Sequences per step", min: 1, int: true },
};

const FLAGS = {
  ...BENCH_MODEL_FLAGS,
  steps: { default: 10, help: "Timed steps", min: 1, int: true },
  warmup: { default: 3, help: "Untimed steps first", min: 1, int: true },
  "no-peer": { default: false, help: "Skip the PyTorch peer" },
  python: {
    default: "",
    help: "Python with torch for the peer (default: /usr/bin/python3, then python3)",
  },
  json: { default: false, help: "Print one JSON object instead of a table" },
};

/** Finds a Python that imports torch. */
async function findTorchPython(explicit: string): Promise<string | undefined> {
  for (const py of explicit ? [explicit] : ["/usr/bin/python3", "python3"]) {
    try {
      const { success } = await new Deno.Command(py, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return py;
    } catch { /* not installed */ }
  }
  return undefined;
}

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, USAGE);
    const config = {
      vocabSize: f.vocab,
      context: f.context,
      layers: f.layers,
      heads: f.heads,
      width: f.width,
    };
    const B = f.batch, T = f.context;
    const gpu = await getGpu();
    const gpt = Gpt.create(gpu, config, { seed: 1 });
    const trainer = new Trainer(gpt, { B, T });
    await trainer.ready();
    const rng = new Rng(1);
    const batch = () => {
      const inputs = new Uint32Array(B * T), targets = new Uint32Array(B * T);
      for (let i = 0; i < B * T; i++) {
        inputs[i] = rng.int(f.vocab);
        targets[i] = rng.int(f.vocab);
      }
      return { inputs, targets };
    };
    const hyper = { lr: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 };
    const batches = Array.from({ length: 4 }, batch);
    for (let i = 0; i < f.warmup; i++) await trainer.submit([batches[i % 4]], hyper);
    // Pipelined as in training: submit step k, then wait for step k-1.
    const t0 = performance.now();
    let pending = trainer.submit([batches[0]], hyper);
    let loss = NaN;
    for (let i = 1; i < f.steps; i++) {
      const next = trainer.submit([batches[i % 4]], hyper);
      loss = (await pending).loss;
      pending = next;
    }
    loss = (await pending).loss;
    const seconds = (performance.now() - t0) / 1000;
    const ours = (f.steps * B * T) / seconds;
    const dispatches = trainer.graph.forward.length + trainer.graph.trainLoss.length +
      trainer.graph.backward.length;
    const flopsPerToken = 6 * parameterCount(config) + 6 * f.layers * f.width * T; // matmuls + attention
    let peer: Record<string, unknown> | undefined;
    const py = !f["no-peer"] ? await findTorchPython(f.python) : undefined;
    // The peer runs with one thread and with all cores; the faster counts (on a busy or small
    // machine, OpenBLAS's extra threads can cost more than they give).
    const threadCounts = [...new Set([1, navigator.hardwareConcurrency])];
    for (const threads of py ? threadCounts : []) {
      const script = new URL("./bench_torch.py", import.meta.url).pathname;
      const out = await new Deno.Command(py!, {
        args: [
          script,
          "--json-config",
          JSON.stringify({
            threads,
            vocab: f.vocab,
            layers: f.layers,
            heads: f.heads,
            width: f.width,
            context: f.context,
            batch: f.batch,
            steps: Math.max(f.steps, 10),
            warmup: f.warmup,
          }),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? "";
      if (out.success && text.startsWith("{")) {
        const run = JSON.parse(text);
        if (!peer || Number(run.tokens_per_s) > Number(peer.tokens_per_s)) peer = run;
      } else {console.error(
          `bench: the PyTorch peer failed: ${
            new TextDecoder().decode(out.stderr).trim().split("\n").pop()
          }`,
        );}
    }
    const peerTps = peer ? Number(peer.tokens_per_s) : null;
    const result = {
      config: { ...config, batch: B },
      adapter: gpu.name,
      backend: gpu.backend,
      ours_tokens_per_s: Math.round(ours * 10) / 10,
      ours_ms_per_step: Math.round((seconds / f.steps) * 1000 * 10) / 10,
      ours_gflops: Math.round((ours * flopsPerToken) / 1e9 * 100) / 100,
      dispatches_per_step: dispatches + 4,
      final_loss: loss,
      peer: peer ? { name: "pytorch-cpu", ...peer } : null,
      peer_tokens_per_s: peerTps,
      ratio: peerTps ? Math.round((ours / peerTps) * 1000) / 1000 : null,
    };
    if (f.json) {
      console.log(JSON.stringify(result));
      return;
    }
    console.log(
      `config   vocab ${f.vocab}, ${f.layers} layers, ${f.heads} heads, width ${f.width}, context ${T}, batch ${B} (${
        (parameterCount(config) / 1e6).toFixed(2)
      }M params)`,
    );
    console.log(`adapter  ${gpu.name} (${gpu.backend})`);
    console.log(
      `ours     ${result.ours_tokens_per_s} tokens/s, ${result.ours_ms_per_step} ms/step, ${result.ours_gflops} GFLOP/s, ${result.dispatches_per_step} dispatches/step`,
    );
    if (peer) {
      console.log(
        `pytorch  ${
          Math.round(peerTps! * 10) / 10
        } tokens/s (torch ${peer.torch}, ${peer.threads} threads, BLAS: ${peer.blas})`,
      );
      console.log(`ratio    ${result.ratio}x PyTorch CPU`);
    } else {
      console.log("pytorch  not run (no Python with torch: apt-get install -y python3-torch)");
    }
  });
}
