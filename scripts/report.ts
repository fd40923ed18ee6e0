/**
 * One self-contained HTML page from the metrics every stage writes (`<out>/<stage>.metrics.jsonl`)
 * and the pipeline's `summary.json`: inline SVG plots and the comparison table; the greedy answer
 * of every stage's checkpoint to each demo prompt, side by side; and, through PPO, the reward
 * model's score of the rollouts against the gold judge's (over-optimisation shows as the two
 * curves parting).
 *
 *     deno task report [--dir checkpoints] [--out checkpoints/report.html] [--prompts "A|B"]
 *
 * @module
 */
import { parseFlags, runMain, UsageError } from "../stages/cli.ts";
import { loadAnswerer } from "../arena/answer.ts";

/** One plotted series. */
export interface Series {
  name: string;
  points: [number, number][];
}

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"];

function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000 || a < 0.01) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

/** An SVG line chart of one or more series (x: step). Empty series are skipped. */
export function lineChart(title: string, series: Series[], width = 420, height = 240): string {
  const live = series.filter((s) => s.points.length > 0);
  if (live.length === 0) return "";
  const pad = { l: 52, r: 12, t: 28, b: 34 };
  const xs = live.flatMap((s) => s.points.map((p) => p[0]));
  const ys = live.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const sy = (y: number) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${
      esc(title)
    }">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">${
      esc(title)
    }</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(
      `<line x1="${pad.l}" x2="${width - pad.r}" y1="${sy(y)}" y2="${sy(y)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 4}" y="${sy(y) + 4}" text-anchor="end" font-size="10" fill="#555">${
        fmt(y)
      }</text>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + ((x1 - x0) * i) / 4;
    parts.push(
      `<text x="${sx(x)}" y="${
        height - pad.b + 14
      }" text-anchor="middle" font-size="10" fill="#555">${fmt(Math.round(x))}</text>`,
    );
  }
  parts.push(
    `<text x="${width / 2}" y="${
      height - 4
    }" text-anchor="middle" font-size="10" fill="#555">step</text>`,
  );
  live.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    const d = pts.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join("");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6" class="series"/>`);
    if (pts.length < 40) {
      for (const p of pts) {
        parts.push(
          `<circle cx="${sx(p[0]).toFixed(1)}" cy="${
            sy(p[1]).toFixed(1)
          }" r="2.2" fill="${color}"/>`,
        );
      }
    }
    parts.push(
      `<text x="${pad.l + 8 + i * 110}" y="${pad.t + 8}" font-size="10" fill="${color}">● ${
        esc(s.name)
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("");
}

type Record_ = Record<string, unknown>;

function series(records: Record_[], key: string, name = key): Series {
  return {
    name,
    points: records
      .filter((r) => typeof r[key] === "number" && typeof r.step === "number")
      .map((r) => [r.step as number, r[key] as number]),
  };
}

/** Reads a JSONL file (missing file: no records). */
export async function readJsonl(path: string): Promise<Record_[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return text.split("\n").filter((l) => l.trim()).flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

const STAGES = ["pretrain", "sft", "reward", "rlhf"] as const;

/** The prompts every stage answers in the pipeline's comparison and the report. */
export const DEMO_PROMPTS: readonly string[] = [
  "How to be productive",
  "Give 3 tips for better sleep",
  "List 2 ways to save money",
];

/**
 * The checkpoints of `dir` that write text: pretrain, sft and rlhf first, then any other folder
 * holding a language model (e.g. a DPO policy trained on arena votes), by name.
 */
export async function textCheckpoints(dir: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isDirectory || /\.(steps|tmp)$|^\./.test(e.name)) continue;
      try {
        const config = JSON.parse(await Deno.readTextFile(`${dir}/${e.name}/config.json`));
        if (config.instructgpu?.head !== "scalar") found.push(e.name);
      } catch { /* not a checkpoint */ }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const rank = (n: string) => {
    const i = ["pretrain", "sft", "rlhf"].indexOf(n);
    return i < 0 ? 3 : i;
  };
  return found.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * The greedy answers of each checkpoint to each prompt, as an HTML table (prompts down, stages
 * across), or a line saying why there is none.
 */
async function answersTable(dir: string, prompts: readonly string[], maxTokens: number) {
  const stages = await textCheckpoints(dir);
  if (prompts.length === 0 || stages.length === 0) return "";
  const cells = new Map<string, string>();
  for (const stage of stages) {
    let answerer;
    try {
      answerer = await loadAnswerer([`${dir}/${stage}`]);
    } catch (e) {
      return `<p class="note">No answers: ${esc(String((e as Error).message).split("\n")[0])}</p>`;
    }
    try {
      for (const prompt of prompts) {
        const settings = { temperature: 0, maxTokens, topK: 0, topP: 1, seed: 0 };
        const checkpoint = answerer.checkpoints[0].name;
        const { text } = await answerer.answer({ checkpoint, prompt, settings });
        cells.set(`${stage}\n${prompt}`, text);
      }
    } finally {
      answerer.close();
    }
  }
  return `<table class="answers"><thead><tr><th>prompt</th>${
    stages.map((s) => `<th>${esc(s)}</th>`).join("")
  }</tr></thead><tbody>${
    prompts.map((p) =>
      `<tr><td>${esc(p)}</td>${
        stages.map((s) => `<td><pre>${esc(cells.get(`${s}\n${p}`) ?? "")}</pre></td>`).join("")
      }</tr>`
    ).join("")
  }</tbody></table>`;
}

/** The reward model's score against the gold judge's through PPO, or a note when not logged. */
function overOptimisation(rlhf: Record_[]): string {
  const ppo = rlhf.filter((r) => r.phase === "ppo");
  if (ppo.length === 0) return "";
  const chart = lineChart(
    "PPO rollouts: reward-model score vs gold-judge score",
    [
      series(ppo, "reward", "reward model"),
      series(ppo, "gold_score", "gold judge"),
    ],
    560,
    280,
  );
  const gold = ppo.some((r) => typeof r.gold_score === "number");
  return `<div class="charts">${chart}</div>` +
    (gold
      ? `<p class="note">Both are mean scores of the same rollouts at each step: where the reward ` +
        `model's score climbs and the gold judge's does not, PPO exploits the reward model.</p>`
      : `<p class="note">The gold judge's score of the rollouts is absent: this run's PPO log has ` +
        `no <code>gold_score</code>, so only the reward model's score is drawn.</p>`);
}

/** Options of {@linkcode buildReport}. */
export interface ReportOptions {
  /** Prompts every stage answers greedily (default {@linkcode DEMO_PROMPTS}; [] for none). */
  prompts?: readonly string[];
  /** Most tokens of those answers. Default 80. */
  maxTokens?: number;
}

/** Builds the report page from the metrics and checkpoints in `dir`. */
export async function buildReport(dir: string, options: ReportOptions = {}): Promise<string> {
  const metrics: Record<string, Record_[]> = {};
  for (const s of STAGES) metrics[s] = await readJsonl(`${dir}/${s}.metrics.jsonl`);
  let summary: Record<string, Record<string, number>> | undefined;
  try {
    summary = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
  } catch { /* no pipeline summary yet */ }
  if (STAGES.every((s) => metrics[s].length === 0) && !summary) {
    throw new UsageError(
      `No metrics in ${dir}: run a stage first (deno task pretrain) or pass --dir`,
    );
  }
  const charts: string[] = [];
  for (const s of ["pretrain", "sft"] as const) {
    const m = metrics[s];
    charts.push(
      lineChart(`${s}: loss`, [series(m, "loss", "train"), series(m, "val_loss", "val")]),
      lineChart(`${s}: learning rate`, [series(m, "lr")]),
      lineChart(`${s}: tokens/s`, [series(m, "tokens_per_s")]),
    );
  }
  const rm = [...metrics.reward, ...metrics.rlhf];
  charts.push(
    lineChart("reward model: loss and accuracy", [
      series(rm, "rm_loss", "loss"),
      series(rm, "rm_accuracy", "accuracy"),
    ]),
    lineChart("policy: reward", [series(metrics.rlhf, "reward")]),
    lineChart("policy: KL to SFT", [series(metrics.rlhf, "kl")]),
    lineChart("policy: clip fraction", [series(metrics.rlhf, "clip_frac")]),
    lineChart("policy: response length", [series(metrics.rlhf, "response_length")]),
  );
  const answers = await answersTable(dir, options.prompts ?? DEMO_PROMPTS, options.maxTokens ?? 80);
  const rmVsGold = overOptimisation(metrics.rlhf);
  let table = "";
  if (summary) {
    const keys = [
      "val_loss",
      "format_compliance",
      "gold_score",
      "rm_score",
      "kl_to_sft",
      "mean_length",
    ];
    const stages = Object.keys(summary);
    table = `<table><thead><tr><th>metric</th>${
      stages.map((s) => `<th>${esc(s)}</th>`).join("")
    }</tr></thead><tbody>` +
      keys.map((k) =>
        `<tr><td>${k}</td>${
          stages.map((s) => {
            const v = summary![s]?.[k];
            return `<td>${typeof v === "number" ? fmt(v) : "–"}</td>`;
          }).join("")
        }</tr>`
      ).join("") + "</tbody></table>";
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>instructgpu report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #111; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { border: 1px solid #e5e7eb; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #d1d5db; padding: 4px 10px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
table.answers td, table.answers th { text-align: left; vertical-align: top; }
table.answers pre { margin: 0; white-space: pre-wrap; font-size: 12px; max-width: 34em; }
.note { color: #444; font-size: 13px; max-width: 60em; }
</style></head><body>
<h1>instructgpu report</h1>
<p>From the metrics in <code>${esc(dir)}</code>, ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC.</p>
${table ? `<h2>Stages compared</h2>${table}` : ""}
${answers ? `<h2>Greedy answers of every stage</h2>${answers}` : ""}
${rmVsGold ? `<h2>Reward model and gold judge through PPO</h2>${rmVsGold}` : ""}
<h2>Training curves</h2>
<div class="charts">${charts.filter((c) => c).join("\n")}</div>
</body></html>
`;
}

if (import.meta.main) {
  await runMain(async () => {
    const f = parseFlags(Deno.args, {
      dir: {
        default: "checkpoints",
        help: "Directory with the stages' metrics JSONL and summary.json",
      },
      out: { default: "", help: "HTML file to write (default: <dir>/report.html)" },
      prompts: {
        default: DEMO_PROMPTS.join("|"),
        help: "Prompts every stage answers greedily, separated by | (empty: none)",
      },
      "max-tokens": { default: 80, help: "Most tokens of those answers", min: 1, int: true },
    }, "Usage: deno task report [--dir DIR] [--out FILE] [--prompts A|B]");
    const prompts = f.prompts.split("|").map((p) => p.trim()).filter((p) => p);
    const html = await buildReport(f.dir, { prompts, maxTokens: f["max-tokens"] });
    const out = f.out || `${f.dir}/report.html`;
    await Deno.writeTextFile(out, html);
    console.log(`report: wrote ${out}`);
  });
}
