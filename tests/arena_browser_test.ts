/**
 * The arena's page in headless Chromium, driven over the DevTools protocol: a prompt typed as
 * HTML shows as typed, both answers stream in, "A is better" writes the vote, the names and the
 * leaderboard appear, and a screenshot is taken. Skipped, with a line saying so, without Chromium.
 */
import { assert, assertEquals } from "./_assert.ts";
import { Browser, findChromium } from "./_browser.ts";
import { tinyCheckpoint } from "./_run.ts";
import { parseVote } from "../data/votes.ts";
import { loadAnswerer } from "../arena/answer.ts";
import { Arena, serveArena } from "../arena/server.ts";
import { VoteLog } from "../arena/vote_log.ts";

const chromium = await findChromium();

Deno.test({
  name: "arena page in Chromium: type, stream both answers, vote A, see the names",
  ignore: chromium === undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    const votesPath = `${dir}/votes.jsonl`;
    await tinyCheckpoint(`${dir}/one`, { context: 128, seed: 5 });
    await tinyCheckpoint(`${dir}/two`, { context: 128, seed: 6 });
    const answerer = await loadAnswerer([`${dir}/one`, `${dir}/two`]);
    const server = await serveArena(
      new Arena({ answerer, votes: await VoteLog.open(votesPath), maxTokens: 12, seed: 3 }),
      { port: 0 },
    );
    const browser = await Browser.launch(chromium!);
    try {
      const page = await browser.newPage();
      await page.goto(server.url + "/");
      await page.waitFor(`document.body.dataset.state === "ready"`);
      assertEquals(await page.evaluate(`document.querySelector("#max-tokens").value`), "12");

      const prompt = "<img src=x onerror=alert(1)> Give 2 tips & <b>sleep</b>";
      await page.type("#prompt", prompt);
      await page.click("#go");
      await page.waitFor(`document.body.dataset.state === "answered"`, 120_000);
      const shown = await page.evaluate<{ asked: string; a: string; b: string }>(`({
        asked: document.querySelector("#asked").textContent,
        a: document.querySelector("#side-a .text").textContent,
        b: document.querySelector("#side-b .text").textContent,
      })`);
      // The prompt shows as typed: text, not markup; nothing ran.
      assertEquals(shown.asked, prompt);
      assertEquals(await page.evaluate(`document.querySelectorAll("img, b").length`), 0);
      assertEquals(page.dialogs, []);
      assertEquals(await page.evaluate(`document.querySelector("#side-a .name").textContent`), "");

      await page.click(`[data-winner="a"]`);
      await page.waitFor(`document.body.dataset.state === "voted"`);
      const names = await page.evaluate<string[]>(
        `[...document.querySelectorAll(".answers .name")].map((e) => e.textContent)`,
      );
      assertEquals([...names].sort(), [`${dir}/one`, `${dir}/two`]);
      await page.waitFor(`document.querySelectorAll("#board tbody tr").length === 2`);

      const lines = (await Deno.readTextFile(votesPath)).trim().split("\n");
      assertEquals(lines.length, 1);
      const vote = parseVote(JSON.parse(lines[0]), "line 1");
      assertEquals([vote.prompt, vote.winner], [prompt, "a"]);
      assertEquals([vote.a.checkpoint, vote.b.checkpoint], names);
      assertEquals([vote.a.answer, vote.b.answer], [shown.a, shown.b]);
      assertEquals(vote.settings.max_tokens, 12);

      const png = await page.screenshot();
      await Deno.writeFile(`${dir}/arena.png`, png);
      assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      assert(png.length > 20_000, `the screenshot has content (${png.length} bytes)`);
      assertEquals(page.errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      answerer.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

if (chromium === undefined) {
  console.log("arena browser test skipped: Chromium is not installed (apt-get install chromium)");
}
