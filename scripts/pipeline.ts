/**
 * The main job: pretrain → SFT → RLHF on the embedded instruction world with default flags, then
 * the comparison: the same prompts answered by each stage's checkpoint side by side, and one table
 * of metrics per stage (also written to `<out>/summary.json`), and the HTML report.
 *
 *     deno task pipeline [--out checkpoints] [--from pretrain|sft|rlhf|eval]
 *
 * Each stage runs as its own script (`stages/*.ts`), exactly as `deno task <stage>` would.
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { loadModel } from "../model/checkpoint.ts";
import { evaluateStage, type StageMetrics } from "../model/stage_eval.ts";
import { Decoder } from "../model/decode.ts";
import { extractResponse, formatPrompt } from "../data/template.ts";
import { fmtDuration } from "../train/run.ts";
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";
import { metricsTable } from "./eval.ts";
import { buildReport, DEMO_PROMPTS } from "./report.ts";

const USAGE = "Usage: deno task pipeline [--out DIR] [--from STAGE]";
const STAGES = ["pretrain", "sft", "rlhf", "eval"] as const;
const FLAGS = {
  out: { default: "checkpoints", help: "Directory of the stages' checkpoints and the summary" },
  from: {
    default: "pretrain",
    help: "First stage to run (earlier ones must have their checkpoints in --out)",
    choices: STAGES,
  },
  prompts: {
    default: DEMO_PROMPTS.join("|"),
    help: "Showcase prompts answered by every stage, separated by |",
  },
  "eval-prompts": { default: 24, help: "Held-out prompts of the metrics", min: 1, int: true },
  "eval-tokens": { default: 80, help: "Maximum tokens per answer", min: 1, int: true },
  "pretrain-args": { default: "", help: "Extra flags for the pretrain stage" },
  "sft-args": { default: "", help: "Extra flags for the SFT stage" },
  "rlhf-args": { default: "", help: "Extra flags for the RLHF stage" },
};

function splitArgs(s: string): string[] {
  return s.trim() ? s.trim().split(/\s+/) : [];
}

async function runStage(name: string, args: string[]): Promise<void> {
  console.log(`\n=== ${name}: deno run -A stages/${name}.ts ${args.join(" ")}`);
  const script = new URL(`../stages/${name}.ts`, import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    throw new UsageError(`the ${name} stage failed (exit ${code}): see its output above`);
  }
}

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, USAGE);
    const out = f.out.replace(/\/+$/, "");
    const dir = (s: string) => `${out}/${s}`;
    const start = performance.now();
    const first = STAGES.indexOf(f.from as typeof STAGES[number]);
    if (first <= 0) {
      await runStage("pretrain", ["--out", dir("pretrain"), ...splitArgs(f["pretrain-args"])]);
    }
    if (first <= 1) {
      await runStage("sft", [
        "--init",
        dir("pretrain"),
        "--out",
        dir("sft"),
        ...splitArgs(f["sft-args"]),
      ]);
    }
    if (first <= 2) {
      await runStage("rlhf", [
        "--init",
        dir("sft"),
        "--out",
        dir("rlhf"),
        "--reward-out",
        dir("reward"),
        ...splitArgs(f["rlhf-args"]),
      ]);
    }
    const trained = performance.now();

    console.log("\n=== comparison");
    const gpu = await getGpu();
    const models = {
      pretrain: await loadModel(gpu, dir("pretrain")),
      sft: await loadModel(gpu, dir("sft")),
      rlhf: await loadModel(gpu, dir("rlhf")),
    };
    const reward = (await loadModel(gpu, dir("reward"))).gpt;

    // The same prompts, answered greedily by each stage.
    const showcase = f.prompts.split("|").map((p) => p.trim()).filter((p) => p);
    for (const prompt of showcase) {
      console.log(`\nprompt: ${prompt}`);
      for (const [stage, m] of Object.entries(models)) {
        const decoder = new Decoder(m.gpt);
        const ids = m.tokenizer.encode(formatPrompt(prompt));
        const greedy = { maxTokens: f["eval-tokens"], temperature: 0, stopToken: m.tokenizer.eot };
        const out = await decoder.generate([ids], greedy);
        decoder.destroy();
        const text = extractResponse(m.tokenizer.decode(out.tokens[0]));
        console.log(`--- ${stage}:\n${text.split("\n").map((l) => `    ${l}`).join("\n")}`);
      }
    }

    const summary: Record<string, StageMetrics> = {};
    for (const [stage, m] of Object.entries(models)) {
      summary[stage] = await evaluateStage(m.gpt, m.tokenizer, {
        limit: f["eval-prompts"],
        maxTokens: f["eval-tokens"],
        reward,
        sft: models.sft.gpt,
      });
    }
    console.log(
      `\nheld-out prompts (${f["eval-prompts"]}, greedy answers; see model/stage_eval.ts):`,
    );
    console.log(metricsTable(summary));
    await Deno.writeTextFile(`${out}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
    await Deno.writeTextFile(
      `${out}/report.html`,
      await buildReport(out, {
        prompts: showcase,
        maxTokens: f["eval-tokens"],
      }),
    );
    const total = (performance.now() - start) / 1000;
    console.log(
      `\npipeline: done in ${fmtDuration(total)} (training ${
        fmtDuration((trained - start) / 1000)
      }); ` +
        `${out}/summary.json and ${out}/report.html written`,
    );
  });
}
