/**
 * RLHF end to end and the weighted cross-entropy trick: the policy gradients that the trainer
 * applies through per-token weights are the gradients of the true PPO and DPO objectives (checked
 * by finite differences on a tiny model); the stage runs RM + PPO, DPO and GRPO on tiny settings;
 * bad preference files stop it with one line, exit code 2 and nothing written.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, runScript, tinyCheckpoint } from "./_run.ts";
import { getGpu } from "../gpu/device.ts";
import { Rng } from "../data/rng.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { generateWorld } from "../data/world/mod.ts";
import type { GptConfig } from "../model/config.ts";
import { Gpt, initialParameters, readTable } from "../model/gpt.ts";
import { Trainer } from "../model/trainer.ts";
import { Evaluator } from "../model/generate.ts";
import { dpoLoss, ppoPolicyLoss } from "../model/ppo.ts";

const tiny: GptConfig = { vocabSize: 23, context: 12, layers: 1, heads: 2, width: 16 };
const noStep = { lr: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 0 };

/**
 * Checks that the trainer's gradient for per-token weights `w(θ)` = ∂L/∂CE equals ∇L: the central
 * difference of L along the normalised gradient must equal the gradient's norm.
 */
async function checkTrick(
  objective: (ce: Float32Array) => { loss: number; weights: Float32Array },
  B: number,
  T: number,
  seed: number,
): Promise<void> {
  const gpu = await getGpu();
  const values = initialParameters(tiny, seed);
  const rng = new Rng(seed);
  for (const [name, v] of values) {
    if (v.length > 1 && !name.includes("ln_")) values.set(name, rng.normalArray(v.length, 0.2));
  }
  const gpt = Gpt.create(gpu, tiny, { values });
  const inputs = Uint32Array.from({ length: B * T }, () => rng.int(tiny.vocabSize));
  const targets = Uint32Array.from({ length: B * T }, () => rng.int(tiny.vocabSize));
  const ev = new Evaluator(gpt, { B, T });
  const trainer = new Trainer(gpt, { B, T });
  await trainer.ready();
  const at = objective(await ev.tokenLosses(inputs, targets));
  await trainer.submit([{ inputs, targets, weights: at.weights }], noStep, { rawWeights: true });
  const grads = await readTable(gpu, gpt.grads);
  let norm = 0;
  for (const g of grads.values()) for (const x of g) norm += x * x;
  norm = Math.sqrt(norm);
  assert(norm > 1e-4, `gradient norm ${norm} is too small to test`);
  const L = async (eps: number) => {
    const moved = new Map<string, Float32Array>();
    for (const [k, v] of values) moved.set(k, v.map((x, i) => x + (eps * grads.get(k)![i]) / norm));
    gpt.setParameters(moved);
    return objective(await ev.tokenLosses(inputs, targets)).loss;
  };
  const eps = 5e-3;
  const fd = ((await L(eps)) - (await L(-eps))) / (2 * eps);
  assert(Math.abs(fd - norm) / norm < 0.03, `finite difference ${fd} vs gradient norm ${norm}`);
  ev.destroy();
  trainer.destroy();
  gpt.destroy();
}

Deno.test("the PPO-clip gradient through weighted cross-entropy matches finite differences", async () => {
  const B = 2, T = 9;
  const mask = Array.from({ length: B * T }, (_, i) => i % T >= 3); // response tokens
  const rng = new Rng(5);
  let old: number[] | undefined;
  const adv = mask.map(() => rng.normal());
  // Offsets put some ratios far outside the clip range (no gradient) and the rest near 1.
  const offset = mask.map((
    _,
    i,
  ) => (i % 4 === 0 ? (adv[i] > 0 ? -0.6 : 0.6) : 0.05 * rng.normal()));
  await checkTrick(
    (ce) => {
      const logp = mask.flatMap((m, i) => (m ? [-ce[i]] : []));
      old ??= logp.map((x, j) => x + offset[j]);
      const a = mask.flatMap((m, i) => (m ? [adv[i]] : []));
      const r = ppoPolicyLoss(logp, old, a, 0.2);
      const weights = new Float32Array(B * T);
      let j = 0;
      mask.forEach((m, i) => {
        if (m) weights[i] = r.weights[j++];
      });
      assert(r.clipFrac > 0 && r.clipFrac < 1, `clip fraction ${r.clipFrac}`);
      return { loss: r.loss, weights };
    },
    B,
    T,
    21,
  );
});

Deno.test("the DPO gradient through weighted cross-entropy matches finite differences", async () => {
  const B = 2, T = 10; // row 0 chosen, row 1 rejected
  const prompt = 4;
  let ref: [number, number] | undefined;
  await checkTrick(
    (ce) => {
      let c = 0, r = 0;
      for (let t = prompt; t < T; t++) {
        c -= ce[t];
        r -= ce[T + t];
      }
      ref ??= [c + 0.3, r - 0.2]; // a fixed reference near the initial policy
      const d = dpoLoss(c, r, ref[0], ref[1], 0.5);
      const weights = new Float32Array(B * T);
      for (let t = prompt; t < T; t++) {
        weights[t] = d.chosenWeight;
        weights[T + t] = d.rejectedWeight;
      }
      return { loss: d.loss, weights };
    },
    B,
    T,
    33,
  );
});

/** A tiny untrained "SFT" checkpoint whose tokenizer covers the instruction world. */
async function tinySft(dir: string): Promise<string> {
  const world = generateWorld({ seed: 1, proseParagraphs: 40, instructions: 200, preferences: 50 });
  const texts = [
    world.prose.join("\n\n"),
    ...world.instructions.map((p) =>
      `### Instruction:\n${p.prompt}\n\n### Response:\n${p.response}`
    ),
    ...world.heldOutPrompts,
  ];
  const tokenizer = buildTokenizer("gpt2-compact", texts);
  await tinyCheckpoint(`${dir}/sft`, { tokenizer, context: 64, seed: 1 });
  return `${dir}/sft`;
}

const FAST = [
  "--rm-steps",
  "2",
  "--rm-batch",
  "2",
  "--rm-eval-pairs",
  "4",
  "--steps",
  "2",
  "--batch",
  "2",
  "--max-tokens",
  "5",
  "--eval-prompts",
  "2",
  "--quiet",
];

Deno.test("rlhf runs RM + PPO, then DPO and GRPO, on tiny settings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const init = await tinySft(dir);
    const paths = ["--init", init, "--reward-out", `${dir}/reward`];
    const r = await runScript("stages/rlhf.ts", [...paths, "--out", `${dir}/ppo`, ...FAST]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /reward-model held-out accuracy \d/);
    assertMatch(r.stdout, /gold-judge score/);
    for (const f of ["model.safetensors", "config.json", "tokenizer.json", "state.json"]) {
      assert(await exists(`${dir}/reward/${f}`), `reward: missing ${f}`);
      assert(await exists(`${dir}/ppo/${f}`), `ppo: missing ${f}`);
    }
    const rmConfig = JSON.parse(await Deno.readTextFile(`${dir}/reward/config.json`));
    assertEquals(rmConfig.architectures, ["GPT2ForSequenceClassification"]);
    const log = (await Deno.readTextFile(`${dir}/ppo.metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    const steps = log.filter((e) => e.phase === "ppo");
    assertEquals(steps.length, 2);
    for (const k of ["reward", "kl", "entropy", "clip_frac", "value_loss", "response_length"]) {
      assert(steps.every((e) => Number.isFinite(e[k])), `metric ${k}`);
    }
    assert(log.some((e) => e.phase === "rm" && Number.isFinite(e.rm_loss)), "rm_loss logged");
    assert(log.some((e) => Number.isFinite(e.rm_accuracy)), "rm_accuracy logged");
    const end = log[log.length - 1];
    for (const k of ["rm_accuracy", "gold_score", "sft_gold_score", "rm_score", "kl_to_sft"]) {
      assert(k in end, `final record lacks ${k}`);
    }

    for (const algo of ["dpo", "grpo"]) {
      const p = await runScript("stages/rlhf.ts", [
        ...paths,
        "--stage",
        "policy",
        "--algo",
        algo,
        "--group-size",
        "2",
        "--out",
        `${dir}/${algo}`,
        ...FAST,
      ]);
      assertEquals(p.code, 0, `${algo}: ${p.stderr}`);
      const l = (await Deno.readTextFile(`${dir}/${algo}.metrics.jsonl`)).trim().split("\n")
        .map((x) => JSON.parse(x));
      assertEquals(l.filter((e) => e.phase === algo).length, 2, algo);
      assert(await exists(`${dir}/${algo}/model.safetensors`), `${algo} checkpoint`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad preference files: one line naming file and line, exit 2, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ok = '{"prompt": "Give 2 tips for sleep", "chosen": "1. a\\n2. b", "rejected": "a b"}';
    const cases: [string, string | Uint8Array, RegExp][] = [
      [
        "missing.jsonl",
        `${ok}\n{"prompt": "p", "chosen": "a"}\n`,
        /missing\.jsonl: line 2: "rejected" is missing/,
      ],
      [
        "same.jsonl",
        `${ok}\n${ok}\n{"prompt": "p", "chosen": "x", "rejected": "x"}\n`,
        /same\.jsonl: line 3: .*identical/,
      ],
      [
        "broken.jsonl.gz",
        new TextEncoder().encode("\x1f\x8b garbage"),
        /broken\.jsonl\.gz: line 1: .*gzip/,
      ],
    ];
    for (const [name, data, pattern] of cases) {
      const path = `${dir}/${name}`;
      if (typeof data === "string") await Deno.writeTextFile(path, data);
      else await Deno.writeFile(path, data);
      const r = await runScript("stages/rlhf.ts", [
        "--data",
        path,
        "--init",
        `${dir}/no-sft`,
        "--out",
        `${dir}/out`,
        "--reward-out",
        `${dir}/reward`,
      ]);
      assertEquals(r.code, 2, `${name}: ${r.stderr}`);
      assertMatch(r.stderr, pattern);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert(!(await exists(`${dir}/out`)) && !(await exists(`${dir}/reward`)), "nothing written");
      assert(!(await exists(`${dir}/out.metrics.jsonl`)), "no metrics written");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
