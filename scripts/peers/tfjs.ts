/**
 * TensorFlow.js (WebGPU backend) peer of the training benchmark: the same GPT-2 and AdamW step as
 * ours, written with TF.js ops (forward, `tf.variableGrads`, gradient-norm clipping, AdamW on the
 * variables), executed eagerly as TF.js does.
 *
 *     deno run -A scripts/peers/tfjs.ts --dir D [--steps N] [--warmup W]
 *
 * D is a benchmark directory (see scripts/_bench_peer.ts). Trains the first 10 steps on D's batches
 * (cycling) recording each loss, then `warmup` untimed and `steps` timed steps (submitted back to
 * back, the loss read once at the end with `await data()`), and prints one JSON line: name,
 * version, backend, adapter, tokens_per_s, ms_per_step, losses (the first 10), steps. On failure:
 * one line on stderr, exit 1.
 *
 * The full `@tensorflow/tfjs` package is imported: tfjs-core alone registers no gradients in Deno.
 *
 * @module
 */
// Full npm: specifiers on purpose: only the benchmark downloads its peers' packages.
// deno-lint-ignore-file no-import-prefix
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import {
  adamScalars,
  type BenchConfig,
  CHECK_STEPS,
  defaultAdapterName,
  ensureRuntimeDir,
  gpt2Params,
  parsePeerArgs,
  peerResult,
  readBenchDir,
  runPeer,
  timeRounds,
  watchDevice,
} from "../_bench_peer.ts";

type Vars = Record<string, tf.Variable>;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Mean cross-entropy of the GPT-2 on inputs and targets (B·T) int32. Call inside tf.tidy. */
function gptLoss(
  c: BenchConfig,
  p: Vars,
  inputs: tf.Tensor1D,
  targets: tf.Tensor1D,
  mask: tf.Tensor2D,
): tf.Scalar {
  const B = c.batch, T = c.context, C = c.width, V = c.vocab, NH = c.heads, hs = C / NH;
  const layerNorm = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(w).add(b);
  };
  // x (N, in) @ w (in, out) + b
  const linear = (x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D =>
    tf.matMul(x, w as tf.Tensor2D).add(b);
  const gelu = (x: tf.Tensor2D): tf.Tensor2D =>
    x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(SQRT_2_OVER_PI)).add(1));
  const heads = (t: tf.Tensor) => t.reshape([B, T, NH, hs]).transpose([0, 2, 1, 3]); // (B,NH,T,hs)
  const wte = p["transformer.wte.weight"] as tf.Tensor2D; // (V, C)
  const pos = p["transformer.wpe.weight"].slice([0, 0], [T, C]); // (T, C)
  let x = tf.gather(wte, inputs).reshape([B, T, C]).add(pos).reshape([B * T, C]) as tf.Tensor2D;
  for (let l = 0; l < c.layers; l++) {
    const h = (name: string) => p[`transformer.h.${l}.${name}`];
    const a = layerNorm(x, h("ln_1.weight"), h("ln_1.bias"));
    const qkv = linear(a, h("attn.c_attn.weight"), h("attn.c_attn.bias")); // (B*T, 3C)
    const [q, k, v] = tf.split(qkv, 3, 1).map(heads);
    const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hs)).add(mask); // (B,NH,T,T)
    const y = tf.matMul(tf.softmax(scores, -1), v) // (B,NH,T,hs)
      .transpose([0, 2, 1, 3]).reshape([B * T, C]) as tf.Tensor2D;
    x = x.add(linear(y, h("attn.c_proj.weight"), h("attn.c_proj.bias")));
    const a2 = layerNorm(x, h("ln_2.weight"), h("ln_2.bias"));
    const f = gelu(linear(a2, h("mlp.c_fc.weight"), h("mlp.c_fc.bias"))); // (B*T, 4C)
    x = x.add(linear(f, h("mlp.c_proj.weight"), h("mlp.c_proj.bias")));
  }
  x = layerNorm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"]);
  const logits = tf.matMul(x, wte, false, true); // tied head, (B*T, V)
  const picked = tf.logSoftmax(logits, -1).mul(tf.oneHot(targets, V)).sum();
  return picked.mul(-1 / (B * T)) as tf.Scalar;
}

if (import.meta.main) {
  await runPeer("bench_tfjs", async () => {
    const args = parsePeerArgs(Deno.args);
    const { config, weights, batches } = await readBenchDir(args.dir);
    const steps = args.steps ?? config.steps, warmup = args.warmup ?? config.warmup;
    ensureRuntimeDir();
    if (!(await tf.setBackend("webgpu"))) {
      throw new Error("TF.js could not start its WebGPU backend");
    }
    await tf.ready();
    const adapter = await defaultAdapterName();
    const checkErrors = watchDevice((tf.backend() as unknown as { device: GPUDevice }).device);

    const specs = gpt2Params(config);
    const p: Vars = {}, m: Vars = {}, v: Vars = {};
    specs.forEach((s, i) => {
      const data = Float32Array.from(weights.get(s.name)!.data);
      p[s.name] = tf.variable(tf.tensor(data, s.shape), true, `p${i}`);
      m[s.name] = tf.variable(tf.zeros(s.shape), false, `m${i}`);
      v[s.name] = tf.variable(tf.zeros(s.shape), false, `v${i}`);
    });
    const varList = specs.map((s) => p[s.name]);
    const T = config.context;
    const mask = tf.tensor2d(
      Float32Array.from({ length: T * T }, (_, i) => (i % T) > Math.floor(i / T) ? -1e9 : 0),
      [T, T],
    ); // causal, additive
    const decay = 1 - config.lr * config.weightDecay;
    let t = 0;
    /** Runs the next step on batch t (cycling) and returns its loss (not yet read). */
    const submit = (): tf.Scalar => {
      const batch = batches[t % batches.length];
      t++;
      const { stepSize, bc2Sqrt } = adamScalars(config, t);
      return tf.tidy(() => {
        const inputs = tf.tensor1d(new Int32Array(batch.inputs), "int32");
        const targets = tf.tensor1d(new Int32Array(batch.targets), "int32");
        const { value, grads } = tf.variableGrads(
          () => gptLoss(config, p, inputs, targets, mask),
          varList,
        );
        // Summed one by one: TF.js's addN binds every input at once, more storage buffers than
        // an adapter may allow.
        const norm = specs.map((s) => tf.square(grads[p[s.name].name]).sum())
          .reduce((a, b) => a.add(b)).sqrt();
        const scale = config.gradClip > 0
          ? tf.minimum(tf.div(config.gradClip, norm.add(1e-6)), 1)
          : tf.onesLike(norm);
        for (const s of specs) {
          const g = grads[p[s.name].name].mul(scale);
          const mq = m[s.name].mul(config.beta1).add(g.mul(1 - config.beta1));
          const vq = v[s.name].mul(config.beta2).add(g.square().mul(1 - config.beta2));
          const denom = vq.sqrt().div(bc2Sqrt).add(config.eps);
          const pd = s.decay ? p[s.name].mul(decay) : p[s.name];
          p[s.name].assign(pd.sub(mq.mul(stepSize).div(denom)));
          m[s.name].assign(mq);
          v[s.name].assign(vq);
        }
        return value;
      });
    };
    const pending: tf.Scalar[] = [];
    for (let i = 0; i < CHECK_STEPS; i++) pending.push(submit());
    const losses: number[] = [];
    for (const l of pending) {
      losses.push((await l.data())[0]);
      l.dispose();
    }
    checkErrors();
    const settle = async (last: tf.Scalar | undefined) => {
      const value = last ? (await last.data())[0] : NaN;
      last?.dispose();
      // A read of a parameter updated last waits for the whole step.
      await p["transformer.ln_f.bias"].data();
      return value;
    };
    let last: tf.Scalar | undefined;
    for (let i = 0; i < warmup; i++) {
      last?.dispose();
      last = submit();
    }
    await settle(last);
    const roundsMs = await timeRounds(config.rounds ?? 1, checkErrors, async () => {
      last = undefined; // the previous round's last loss was read (and freed) above
      for (let i = 0; i < steps; i++) {
        last?.dispose();
        last = submit();
      }
      return await settle(last);
    });
    return peerResult(
      { name: "tfjs", version: tf.version.tfjs, adapter, losses },
      config,
      steps,
      roundsMs,
    );
  });
}
