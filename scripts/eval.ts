/**
 * The stage-comparison metrics for any checkpoint: val loss on held-out instruction examples,
 * format compliance, gold-judge score, reward-model score, KL to SFT and mean response length
 * (see model/stage_eval.ts).
 *
 *     deno task eval --checkpoint checkpoints/rlhf [--prompts FILE] [--json]
 *
 * @module
 */
import { getGpu } from "../gpu/device.ts";
import { loadModel } from "../model/checkpoint.ts";
import type { Gpt } from "../model/gpt.ts";
import { evaluateStage, STAGE_METRICS, type StageMetrics } from "../model/stage_eval.ts";
import { DataError } from "../data/errors.ts";
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";

const USAGE = "Usage: deno task eval --checkpoint DIR [--prompts FILE] [--json]";
const FLAGS = {
  checkpoint: { default: "checkpoints/rlhf", help: "Checkpoint to evaluate" },
  prompts: {
    default: "",
    help:
      'Prompts: JSONL with a "prompt" field, or one per line (default: the world\'s held-out prompts)',
  },
  reward: { default: "checkpoints/reward", help: "Reward model for rm_score (skipped if absent)" },
  sft: { default: "checkpoints/sft", help: "SFT checkpoint for kl_to_sft (skipped if absent)" },
  limit: { default: 24, help: "Prompts evaluated", min: 1, int: true },
  "max-tokens": { default: 80, help: "Maximum tokens per answer", min: 1, int: true },
  json: { default: false, help: "Print one JSON object with the metrics" },
};

/** Reads prompts from a JSONL file ({"prompt": ...}) or a text file (one per line). */
export async function readPrompts(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new DataError(`--prompts ${path} cannot be read: pass an existing file`);
  }
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    const s = line.trim();
    if (!s) return;
    if (s.startsWith("{")) {
      let rec: { prompt?: unknown };
      try {
        rec = JSON.parse(s);
      } catch {
        throw new DataError(`${path} line ${i + 1}: invalid JSON: fix the record`);
      }
      if (typeof rec.prompt !== "string" || rec.prompt.trim() === "") {
        throw new DataError(`${path} line ${i + 1}: "prompt" must be a non-empty string`);
      }
      out.push(rec.prompt);
    } else out.push(s);
  });
  if (out.length === 0) throw new DataError(`${path} holds no prompts: add some`);
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Formats a metrics table: one column per stage. */
export function metricsTable(rows: Record<string, StageMetrics>): string {
  const stages = Object.keys(rows);
  const lines = [`${"metric".padEnd(20)}${stages.map((s) => s.padStart(10)).join("")}`];
  for (const k of STAGE_METRICS) {
    lines.push(
      `${k.padEnd(20)}${
        stages.map((s) => {
          const v = rows[s][k];
          return (Number.isNaN(v) ? "-" : k === "mean_length" ? v.toFixed(1) : v.toFixed(3))
            .padStart(10);
        }).join("")
      }`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, FLAGS, USAGE);
    const prompts = f.prompts ? await readPrompts(f.prompts) : undefined;
    const gpu = await getGpu();
    const { gpt, tokenizer } = await loadModel(gpu, f.checkpoint);
    if (gpt.config.head === "scalar") {
      throw new UsageError(
        `${f.checkpoint} is a reward model: evaluate a language model checkpoint`,
      );
    }
    let reward: Gpt | undefined, sft: Gpt | undefined;
    if (await exists(f.reward)) reward = (await loadModel(gpu, f.reward)).gpt;
    if (await exists(f.sft)) {
      const same = (await Deno.realPath(f.sft)) === (await Deno.realPath(f.checkpoint));
      sft = same ? gpt : (await loadModel(gpu, f.sft)).gpt;
    }
    const m = await evaluateStage(gpt, tokenizer, {
      prompts,
      limit: f.limit,
      maxTokens: f["max-tokens"],
      reward,
      sft,
    });
    if (f.json) console.log(JSON.stringify(m));
    else console.log(metricsTable({ [f.checkpoint.split("/").filter(Boolean).pop()!]: m }));
  });
}
