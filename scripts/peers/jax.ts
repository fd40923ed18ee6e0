/**
 * jax-js (WebGPU) peer of the training benchmark: the same GPT-2 and AdamW step as ours, the whole
 * step (forward, backward, gradient-norm clipping, AdamW) under one `jit`.
 *
 *     deno run -A scripts/peers/jax.ts --dir D [--steps N] [--warmup W]
 *
 * D is a benchmark directory (see scripts/_bench_peer.ts). Trains the first 10 steps on D's batches
 * (cycling) recording each loss, then `warmup` untimed and `steps` timed steps (submitted back to
 * back, the loss read once at the end), and prints one JSON line: name, version, backend, adapter,
 * tokens_per_s, ms_per_step, losses (the first 10), steps. On failure: one line on stderr, exit 1.
 *
 * Token and target ids enter as one-hot rows times the embedding table (the gradient of
 * `np.take` does not compile in Deno).
 *
 * @module
 */
// Full npm: specifiers on purpose: only the benchmark downloads its peers' packages.
// deno-lint-ignore-file no-import-prefix
import {
  type Array as JaxArray,
  blockUntilReady,
  defaultDevice,
  getWebGPUDevice,
  init,
  jit,
  nn,
  numpy as np,
  valueAndGrad,
} from "npm:@jax-js/jax@0.1.25";
import {
  adamScalars,
  type BenchConfig,
  CHECK_STEPS,
  ensureRuntimeDir,
  gpt2Params,
  parsePeerArgs,
  peerResult,
  readBenchDir,
  runPeer,
  timeRounds,
  watchDevice,
} from "../_bench_peer.ts";

/** The version imported above. */
const VERSION = "0.1.25";

type Params = Record<string, JaxArray>;

/** Mean cross-entropy of the GPT-2 on inputs and targets (B, T) int32. Consumes every argument. */
function gptLoss(c: BenchConfig, p: Params, inputs: JaxArray, targets: JaxArray): JaxArray {
  const B = c.batch, T = c.context, C = c.width, V = c.vocab, NH = c.heads, hs = C / NH;
  const layerNorm = (x: JaxArray, w: JaxArray, b: JaxArray) => {
    const xm = x.ref.sub(x.mean(-1, { keepdims: true }));
    const variance = np.square(xm.ref).mean(-1, { keepdims: true });
    return xm.div(np.sqrt(variance.add(1e-5))).mul(w).add(b);
  };
  const linear = (x: JaxArray, w: JaxArray, b: JaxArray) => np.matmul(x, w).add(b); // w (in, out)
  const wte = p["transformer.wte.weight"]; // (V, C)
  const tok = np.matmul(nn.oneHot(inputs.reshape([B * T]), V), wte.ref); // (B*T, C)
  const pos = p["transformer.wpe.weight"].slice([0, T]); // (T, C)
  let x = tok.reshape([B, T, C]).add(pos); // (B, T, C)
  for (let l = 0; l < c.layers; l++) {
    const h = (name: string) => p[`transformer.h.${l}.${name}`];
    const a = layerNorm(x.ref, h("ln_1.weight"), h("ln_1.bias"));
    const qkv = linear(a, h("attn.c_attn.weight"), h("attn.c_attn.bias")); // (B, T, 3C)
    const [q, k, v] = np.split(qkv, 3, -1).map((t) => t.reshape([B, T, NH, hs]));
    const y = nn.dotProductAttention(q, k, v, { isCausal: true, scale: 1 / Math.sqrt(hs) });
    x = x.add(linear(y.reshape([B, T, C]), h("attn.c_proj.weight"), h("attn.c_proj.bias")));
    const a2 = layerNorm(x.ref, h("ln_2.weight"), h("ln_2.bias"));
    const f = nn.gelu(linear(a2, h("mlp.c_fc.weight"), h("mlp.c_fc.bias")), { approximate: true });
    x = x.add(linear(f, h("mlp.c_proj.weight"), h("mlp.c_proj.bias")));
  }
  x = layerNorm(x, p["transformer.ln_f.weight"], p["transformer.ln_f.bias"]);
  const logits = np.matmul(x.reshape([B * T, C]), wte.transpose()); // tied head, (B*T, V)
  const logp = nn.logSoftmax(logits, -1);
  const picked = logp.mul(nn.oneHot(targets.reshape([B * T]), V)).sum();
  return picked.mul(-1 / (B * T));
}

/**
 * The training step: loss and gradients, the global gradient norm and its clip scale, AdamW.
 * Returns [loss, params, m, v]; consumes its arguments.
 */
function makeStep(c: BenchConfig) {
  const specs = gpt2Params(c);
  const decay = 1 - c.lr * c.weightDecay;
  return jit((
    p: Params,
    m: Params,
    v: Params,
    inputs: JaxArray,
    targets: JaxArray,
    stepSize: JaxArray,
    bc2Sqrt: JaxArray,
  ) => {
    const refs: Params = {};
    for (const s of specs) refs[s.name] = p[s.name].ref;
    const [loss, grads] = valueAndGrad((q: Params) => gptLoss(c, q, inputs, targets))(refs);
    let sq: JaxArray | undefined;
    for (const s of specs) {
      const g2 = np.square(grads[s.name].ref).sum();
      sq = sq ? sq.add(g2) : g2;
    }
    const norm = np.sqrt(sq!);
    const scale = c.gradClip > 0
      ? np.minimum(np.divide(c.gradClip, norm.add(1e-6)), 1)
      : norm.mul(0).add(1);
    const p2: Params = {}, m2: Params = {}, v2: Params = {};
    for (const s of specs) {
      const g = grads[s.name].mul(scale.ref);
      const mq = m[s.name].mul(c.beta1).add(g.ref.mul(1 - c.beta1));
      const vq = v[s.name].mul(c.beta2).add(np.square(g).mul(1 - c.beta2));
      const denom = np.sqrt(vq.ref).div(bc2Sqrt.ref).add(c.eps);
      const pd = s.decay ? p[s.name].mul(decay) : p[s.name];
      p2[s.name] = pd.sub(stepSize.ref.mul(mq.ref).div(denom));
      m2[s.name] = mq;
      v2[s.name] = vq;
    }
    scale.dispose();
    stepSize.dispose();
    bc2Sqrt.dispose();
    return [loss, p2, m2, v2] as [JaxArray, Params, Params, Params];
  });
}

if (import.meta.main) {
  await runPeer("bench_jax", async () => {
    const args = parsePeerArgs(Deno.args);
    const { config, weights, batches } = await readBenchDir(args.dir);
    const steps = args.steps ?? config.steps, warmup = args.warmup ?? config.warmup;
    ensureRuntimeDir();
    const devices = await init("webgpu");
    if (!devices.includes("webgpu")) throw new Error("jax-js found no WebGPU device");
    defaultDevice("webgpu");
    const device = getWebGPUDevice();
    const checkErrors = watchDevice(device);
    const info = device.adapterInfo;
    const adapter = info?.description || info?.vendor || "unknown adapter";

    const specs = gpt2Params(config);
    let p: Params = {}, m: Params = {}, v: Params = {};
    for (const s of specs) {
      p[s.name] = np.array(Float32Array.from(weights.get(s.name)!.data), { shape: s.shape });
      m[s.name] = np.zeros(s.shape);
      v[s.name] = np.zeros(s.shape);
    }
    const step = makeStep(config);
    const B = config.batch, T = config.context;
    let t = 0;
    /** Submits the next step on batch t (cycling) and returns its loss (not yet read). */
    const submit = (): JaxArray => {
      const batch = batches[t % batches.length];
      t++;
      const { stepSize, bc2Sqrt } = adamScalars(config, t);
      const ids = (a: Uint32Array) =>
        np.array(new Int32Array(a), { shape: [B, T], dtype: np.int32 });
      const [loss, p2, m2, v2] = step(
        p,
        m,
        v,
        ids(batch.inputs),
        ids(batch.targets),
        np.array([stepSize]).reshape([]),
        np.array([bc2Sqrt]).reshape([]),
      );
      p = p2;
      m = m2;
      v = v2;
      return loss;
    };
    const pending: JaxArray[] = [];
    for (let i = 0; i < CHECK_STEPS; i++) pending.push(submit());
    const losses: number[] = [];
    for (const l of pending) losses.push((await l.data())[0]);
    checkErrors();
    let last: JaxArray | undefined;
    for (let i = 0; i < warmup; i++) {
      last?.dispose();
      last = submit();
    }
    if (last) await last.data();
    await blockUntilReady([p, m, v]);
    const roundsMs = await timeRounds(config.rounds ?? 1, checkErrors, async () => {
      last = undefined; // the previous round's last loss was read (and freed) above
      for (let i = 0; i < steps; i++) {
        last?.dispose();
        last = submit();
      }
      const final = (await last!.data())[0];
      await blockUntilReady([p, m, v]);
      return final;
    });
    return peerResult(
      { name: "jax-js", version: VERSION, adapter, losses },
      config,
      steps,
      roundsMs,
    );
  });
}
