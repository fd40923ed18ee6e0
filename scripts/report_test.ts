import { assert, assertEquals, assertMatch } from "../tests/_assert.ts";
import { tinyCheckpoint } from "../tests/_run.ts";
import { buildTokenizer } from "../data/tokenizer.ts";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { initialParameters } from "../model/gpt.ts";
import { loadAnswerer } from "../arena/answer.ts";
import { buildReport, textCheckpoints } from "./report.ts";

async function writeJsonl(path: string, records: Record<string, unknown>[]): Promise<void> {
  await Deno.writeTextFile(path, records.map((r) => JSON.stringify(r) + "\n").join(""));
}

Deno.test("report: every stage's greedy answer side by side, and the RM against the gold judge", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [i, stage] of ["rlhf", "sft", "pretrain", "dpo"].entries()) {
      await tinyCheckpoint(`${dir}/${stage}`, { context: 96, seed: 10 + i });
    }
    const { config } = await tinyCheckpoint(`${dir}/reward`, { context: 96 });
    const scalar = { ...config, head: "scalar" as const };
    await saveCheckpoint(`${dir}/reward`, {
      config: scalar,
      tokenizer: buildTokenizer("bytes").spec as unknown as Record<string, unknown>,
      params: initialParameters(scalar, 1),
      state: { stage: "reward" },
    });
    await Deno.mkdir(`${dir}/rlhf.steps`);
    assertEquals(await textCheckpoints(dir), ["pretrain", "sft", "rlhf", "dpo"]);

    // PPO steps with the reward model's score only: the page says the gold score is absent.
    const ppo = (gold: boolean) =>
      [1, 2, 3].map((step) => ({
        stage: "rlhf",
        phase: "ppo",
        step,
        reward: 0.5 + step / 4,
        ...(gold ? { gold_score: 0.8 - step / 50 } : {}),
      }));
    await writeJsonl(`${dir}/rlhf.metrics.jsonl`, ppo(false));
    const prompts = ["Give 2 tips <for> sleep"];
    const without = await buildReport(dir, { prompts, maxTokens: 6 });
    assertMatch(without, /this run's PPO log has no <code>gold_score<\/code>/);
    assert(!without.includes("● gold judge"), "no gold series");

    await writeJsonl(`${dir}/rlhf.metrics.jsonl`, ppo(true));
    const html = await buildReport(dir, { prompts, maxTokens: 6 });
    assertMatch(html, /● reward model<\/text>/);
    assertMatch(html, /● gold judge<\/text>/);
    assert(!html.includes("has no <code>gold_score"), "the gold score is drawn");

    // The answers table: prompts escaped, one column per text checkpoint, the greedy answers.
    const table = html.slice(html.indexOf('<table class="answers">'));
    assertMatch(
      table,
      /<th>prompt<\/th><th>pretrain<\/th><th>sft<\/th><th>rlhf<\/th><th>dpo<\/th><\/tr>/,
    );
    assertMatch(table, /<td>Give 2 tips &lt;for&gt; sleep<\/td>/);
    const answerer = await loadAnswerer([`${dir}/sft`]);
    const { text } = await answerer.answer({
      checkpoint: `${dir}/sft`,
      prompt: prompts[0],
      settings: { temperature: 0, maxTokens: 6, topK: 0, topP: 1, seed: 0 },
    });
    answerer.close();
    const cells = [...table.matchAll(/<pre>([^]*?)<\/pre>/g)].map((m) => m[1]);
    assertEquals(cells.length, 4);
    const unescape = (s: string) =>
      s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
    assertEquals(unescape(cells[1]), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
