/**
 * End to end: the pipeline runs pretrain → sft → rlhf on tiny settings, compares the stages,
 * writes summary.json with every metric, and a report page that Chromium draws.
 */
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, runScript } from "./_run.ts";

const TINY_MODEL = "--layers 1 --width 32 --heads 2 --context 64";
const ARGS = [
  "--pretrain-args",
  `${TINY_MODEL} --steps 6 --batch 2 --eval-batches 1 --sample-tokens 0 --quiet`,
  "--sft-args",
  "--steps 4 --batch 2 --eval-prompts 2 --eval-tokens 4 --sample-tokens 0 --quiet",
  "--rlhf-args",
  "--rm-steps 2 --rm-batch 2 --steps 1 --batch 2 --max-tokens 4 --eval-prompts 2 --quiet",
  "--eval-prompts",
  "2",
  "--eval-tokens",
  "4",
  "--prompts",
  "How to be productive",
];
const KEYS = [
  "val_loss",
  "format_compliance",
  "gold_score",
  "rm_score",
  "kl_to_sft",
  "mean_length",
];

async function chromium(): Promise<string | undefined> {
  for (const c of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (await exists(c)) return c;
  return undefined;
}

Deno.test("the pipeline trains every stage and compares them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runScript("scripts/pipeline.ts", ["--out", dir, ...ARGS]);
    assertEquals(r.code, 0, r.stderr + r.stdout.slice(-2000));
    assertMatch(r.stdout, /prompt: How to be productive/);
    for (const stage of ["pretrain", "sft", "rlhf"]) {
      assertMatch(r.stdout, new RegExp(`--- ${stage}:`));
    }
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
    assertEquals(Object.keys(summary), ["pretrain", "sft", "rlhf"]);
    for (const stage of Object.keys(summary)) {
      assertEquals(Object.keys(summary[stage]), KEYS);
      for (const k of KEYS) assert(Number.isFinite(summary[stage][k]), `${stage}.${k}`);
    }
    assertEquals(summary.sft.kl_to_sft, 0);
    for (const f of ["pretrain", "sft", "rlhf", "reward"]) {
      assert(await exists(`${dir}/${f}/model.safetensors`), f);
      assert(await exists(`${dir}/${f}.metrics.jsonl`) || f === "reward", `${f} metrics`);
    }

    // eval on one checkpoint gives the same keys
    const e = await runScript("scripts/eval.ts", [
      "--checkpoint",
      `${dir}/rlhf`,
      "--reward",
      `${dir}/reward`,
      "--sft",
      `${dir}/sft`,
      "--limit",
      "2",
      "--max-tokens",
      "4",
      "--json",
    ]);
    assertEquals(e.code, 0, e.stderr);
    assertEquals(Object.keys(JSON.parse(e.stdout)), KEYS);

    // the report: inline SVG plots, drawn by a browser
    const html = await Deno.readTextFile(`${dir}/report.html`);
    assert((html.match(/<svg/g) ?? []).length >= 4, "plots");
    assertMatch(html, /<table>/);
    const browser = await chromium();
    if (browser) {
      const png = `${dir}/report.png`;
      const shot = await new Deno.Command(browser, {
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--no-first-run",
          `--user-data-dir=${dir}/chromium`,
          "--window-size=1200,1600",
          `--screenshot=${png}`,
          `file://${dir}/report.html`,
        ],
        stdout: "null",
        stderr: "null",
      }).output();
      assertEquals(shot.code, 0, "chromium screenshot");
      assert(await nonBlank(png), "the screenshot is blank");
    } else {
      console.log("chromium not installed: the report was checked without a browser");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether a PNG has drawn content: its compressed size is far above a blank page's. */
async function nonBlank(path: string): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  // A blank 1200x1600 white page compresses to a few KiB; plots and text take far more.
  return bytes.length > 20_000;
}
